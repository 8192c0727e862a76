import { connect, type Socket } from 'node:net'
import { percentile } from '@tributary/servers'

/**
 * The ingest benchmark's load generator (BENCH_LOADGEN=lean, the default): `connections`
 * keep-alive HTTP/1.1 connections, each sending its next request as soon as the answer to
 * its last one is complete (a closed loop, as autocannon runs), or, given a rate, when the
 * next request of a shared schedule is due.
 *
 * Why not autocannon: it runs on the same two cores as the processes it measures, and the
 * real path needs both of them (ingest and Redis) where the ceiling needs one, so every µs
 * the generator spends is taken from the real path alone. autocannon spent 80–140 µs of CPU
 * per 11 KB request (a new request object and header block per request, a JavaScript HTTP
 * parser, its histograms); this one writes a precomputed head and the body in one
 * `writev`, and reads only the status line and the body's length: 50–65 µs, most of it
 * the kernel's loopback TCP (BENCHMARKS.md). The figures it reports are the same: 2xx
 * answers per second of the run, latency from send to the answer's last byte (exact
 * percentiles, not a histogram), non-2xx answers, errors and timeouts.
 *
 * What it does not do: HTTPS, pipelining, redirects, or any response framing but
 * Content-Length and chunked; an answer it cannot frame counts as an error and its
 * connection is replaced.
 */
export interface HttpLoadOptions {
  /** `http://host:port/path`. */
  url: string
  headers: Record<string, string>
  /** The n-th request's body (n counts from 0 in each call of httpLoad). */
  body(n: number): string | Buffer
  connections: number
  seconds: number
  /** Requests per second over all connections; without it each connection goes as fast as it is answered. */
  rate?: number
  /** An answer that takes longer counts as a timeout, and its connection is replaced. */
  timeoutMs?: number
}

export interface HttpLoadResult {
  /** 2xx answers that arrived within the run. */
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
}

const HEAD_END = Buffer.from('\r\n\r\n')
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n')

/** The status and length of the answer at the start of `buf`, undefined while incomplete; throws on an answer it cannot frame. */
export function answerLength(buf: Buffer): { status: number; length: number } | undefined {
  const headEnd = buf.indexOf(HEAD_END)
  if (headEnd === -1) return undefined
  const head = buf.toString('latin1', 0, headEnd)
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)
  if (!status) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify(head.slice(0, 40))}`)
  const contentLength = /\r\ncontent-length: *(\d+)/i.exec(head)
  if (contentLength) {
    const length = headEnd + 4 + Number(contentLength[1])
    return buf.length >= length ? { status: Number(status[1]), length } : undefined
  }
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    // The chunks end with a zero-length one, no trailers (the servers measured here send
    // none). From headEnd + 2, so that an empty body (the head's last CRLF, then "0") ends too.
    const end = buf.indexOf(CHUNKED_END, headEnd + 2)
    return end === -1 ? undefined : { status: Number(status[1]), length: end + CHUNKED_END.length }
  }
  // 204 and 304 carry no body; anything else without a length ends with the connection, which a load generator cannot use.
  if (status[1] === '204' || status[1] === '304') return { status: Number(status[1]), length: headEnd + 4 }
  throw new Error(`an answer with neither Content-Length nor chunked encoding (status ${status[1]})`)
}

export function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const url = new URL(options.url)
  const port = Number(url.port || 80)
  const head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n${Object.entries(options.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}content-length: `
  const timeoutMs = options.timeoutMs ?? 10_000
  const latencies: number[] = []
  const result = { ok: 0, non2xx: 0, errors: 0, timeouts: 0 }
  let next = 0
  const start = performance.now()
  const end = start + options.seconds * 1000
  const interval = options.rate ? 1000 / options.rate : 0
  let over = false

  return new Promise((resolve) => {
    let running = options.connections
    const stopped = () => {
      if (--running > 0) return
      latencies.sort((a, b) => a - b)
      resolve({ ...result, latencyP50Ms: round(percentile(latencies, 50)), latencyP99Ms: round(percentile(latencies, 99)), latencyMaxMs: round(latencies.at(-1)) })
    }
    const loops = Array.from({ length: options.connections }, () => connectionLoop())
    // Answers after the end are not counted: cut what is still in flight then.
    setTimeout(() => {
      over = true
      for (const stop of loops) stop()
    }, end - performance.now())

    /** One connection: open, send, read the answer, send the next; a new connection when one fails. Returns its stop. */
    function connectionLoop() {
      let socket: Socket
      let received: Buffer | undefined
      let sentAt = 0
      let inFlight = false
      let connected = false
      /** Closed and not yet replaced (waiting to reconnect). */
      let closed = false
      let timer: NodeJS.Timeout | undefined

      const open = () => {
        connected = false
        closed = false
        socket = connect(port, url.hostname)
        socket.setNoDelay(true)
        socket.on('connect', () => {
          connected = true
          sendNext()
        })
        socket.on('data', onData)
        socket.on('error', () => {})
        socket.on('close', () => {
          closed = true
          clearTimeout(timer)
          if (over) return stopped()
          // A request lost with its connection, or a connection refused, is an error; the loop goes on with a new one.
          if (inFlight || !connected) result.errors++
          inFlight = false
          if (connected) open()
          else timer = setTimeout(open, 100)
        })
      }

      function sendNext() {
        if (over) return
        if (interval) {
          const due = start + next * interval
          const now = performance.now()
          if (due > now) {
            timer = setTimeout(sendNext, due - now)
            return
          }
        }
        const body = options.body(next++)
        const bytes = typeof body === 'string' ? Buffer.from(body) : body
        socket.cork()
        socket.write(`${head}${bytes.length}\r\n\r\n`, 'latin1')
        socket.write(bytes)
        socket.uncork()
        sentAt = performance.now()
        inFlight = true
        timer = setTimeout(() => {
          result.timeouts++
          inFlight = false
          socket.destroy()
        }, timeoutMs)
      }

      function onData(chunk: Buffer) {
        received = received ? Buffer.concat([received, chunk]) : chunk
        let answer: ReturnType<typeof answerLength>
        try {
          answer = answerLength(received)
          // Bytes past the answer we waited for would put the connection out of step.
          if (answer && answer.length !== received.length) throw new Error('more bytes than one answer')
        } catch {
          received = undefined
          socket.destroy()
          return
        }
        if (!answer) return
        const at = performance.now()
        clearTimeout(timer)
        inFlight = false
        received = undefined
        if (answer.status >= 200 && answer.status < 300) {
          result.ok++
          latencies.push(at - sentAt)
        } else result.non2xx++
        sendNext()
      }

      open()
      return () => {
        clearTimeout(timer)
        if (closed) stopped()
        else socket.destroy()
      }
    }
  })
}

const round = (ms: number | undefined) => Math.round((ms ?? 0) * 100) / 100
