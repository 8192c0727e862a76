import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { answerLength, httpLoad } from '../src/http-load.ts'

/** A local HTTP server whose handler gets each request's body; returns its URL and a close. */
async function serve(t: Test, handle: (body: string, req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => handle(Buffer.concat(parts).toString(), req, res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/in?x=1`
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

t.test('every 2xx answer is counted once, with its latency, and each request carries its own body', async (t) => {
  const seen: string[] = []
  const heads = new Set<string>()
  const url = await serve(t, (body, req, res) => {
    seen.push(body)
    heads.add(`${req.method} ${req.url} ${req.headers.authorization}`)
    json(res, 202, { accepted: 1 })
  })
  const result = await httpLoad({ url, headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: (n) => (n % 2 ? `{"n":${n}}` : Buffer.from(`{"n":${n},"pad":"${'é'.repeat(n % 50)}"}`)), connections: 4, seconds: 0.5 })
  t.ok(result.ok > 20, `${result.ok} answers`)
  t.match(result, { non2xx: 0, errors: 0, timeouts: 0 })
  t.same([...heads], ['POST /in?x=1 Bearer k'], 'method, path and headers as given')
  // Requests still in flight when the run ends are sent but not counted: at most one per connection.
  t.ok(seen.length >= result.ok && seen.length <= result.ok + 4, `${seen.length} requests for ${result.ok} answers`)
  t.same(seen.map((b) => JSON.parse(b).n).sort((a, b) => a - b), seen.map((_, i) => i), 'bodies 0…n-1, each once, intact')
  t.ok(result.latencyP50Ms > 0 && result.latencyP50Ms <= result.latencyP99Ms && result.latencyP99Ms <= result.latencyMaxMs, `latency ${result.latencyP50Ms} / ${result.latencyP99Ms} / ${result.latencyMaxMs} ms`)
})

t.test('non-2xx answers and chunked answers are read and counted apart', async (t) => {
  const url = await serve(t, (body, _req, res) => {
    const n = JSON.parse(body).n as number
    if (n % 2) return json(res, 400, { error: 'odd' })
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('chunk one, ')
    res.end('chunk two')
  })
  const result = await httpLoad({ url, headers: {}, body: (n) => `{"n":${n}}`, connections: 2, seconds: 0.4 })
  t.ok(result.ok > 10 && result.non2xx > 10, `${result.ok} ok, ${result.non2xx} non-2xx`)
  t.ok(Math.abs(result.ok - result.non2xx) <= 2, 'half and half')
  t.match(result, { errors: 0, timeouts: 0 })
})

t.test('a connection the server drops is an error, and the load goes on over a new one', async (t) => {
  const url = await serve(t, (body, req, res) => {
    if (JSON.parse(body).n % 10 === 3) return req.socket.destroy()
    json(res, 202, {})
  })
  const result = await httpLoad({ url, headers: {}, body: (n) => `{"n":${n}}`, connections: 2, seconds: 0.5 })
  t.ok(result.errors > 0, `${result.errors} errors`)
  t.ok(result.ok > 8 * result.errors, `${result.ok} answers around them`)
})

t.test('an answer that does not come in time is a timeout; the connection is replaced', async (t) => {
  const url = await serve(t, (body, _req, res) => {
    if (JSON.parse(body).n === 0) return // never answered
    json(res, 202, {})
  })
  const result = await httpLoad({ url, headers: {}, body: (n) => `{"n":${n}}`, connections: 1, seconds: 0.6, timeoutMs: 150 })
  t.equal(result.timeouts, 1)
  t.ok(result.ok > 5, `${result.ok} answers after it`)
  t.ok(result.latencyMaxMs < 150, 'the timed-out request has no latency')
})

t.test('with a rate, requests follow the schedule, not the connections', async (t) => {
  let received = 0
  const url = await serve(t, (_body, _req, res) => {
    received++
    json(res, 202, {})
  })
  const result = await httpLoad({ url, headers: {}, body: (n) => `{"n":${n}}`, connections: 8, seconds: 1, rate: 100 })
  t.ok(received >= 95 && received <= 101, `${received} requests sent at 100/s for 1 s`)
  t.ok(result.ok >= 95, `${result.ok} answered`)
})

t.test('a connection that cannot be opened counts as an error, and is retried', async (t) => {
  const result = await httpLoad({ url: 'http://127.0.0.1:1/', headers: {}, body: () => '{}', connections: 1, seconds: 0.35 })
  t.ok(result.errors >= 2, `${result.errors} refused connections`)
  t.equal(result.ok, 0)
})

t.test('answerLength frames an answer only once all of it has arrived', async (t) => {
  const answer = Buffer.from('HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello')
  t.same(answerLength(answer), { status: 202, length: answer.length })
  t.equal(answerLength(answer.subarray(0, answer.length - 1)), undefined, 'body incomplete')
  t.equal(answerLength(answer.subarray(0, 20)), undefined, 'head incomplete')
  const empty = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n')
  t.same(answerLength(empty), { status: 200, length: empty.length }, 'chunked, no body')
  t.same(answerLength(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), { status: 204, length: 27 })
  t.throws(() => answerLength(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')), { message: /not an HTTP/ })
  t.throws(() => answerLength(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil close')), { message: /neither Content-Length nor chunked/ })
})
