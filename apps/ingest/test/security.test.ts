import { connect } from 'node:net'
import t from 'tap'
import { displayPrefix, revokeKey } from '@tributary/db'
import { KEY_REVOCATIONS_CHANNEL } from '@tributary/shared'
import { build } from './fixtures/build.ts'

const event = { type: 'action', action: 'x', userId: 'u' }

t.test('a revoked key is refused at once, even with a long key cache, once the revocation is announced', async (t) => {
  const { app, tenant, database, redis } = await build(t, { KEY_CACHE_TTL_MS: '600000' })
  const headers = { authorization: `Bearer ${tenant.writeKey}` }
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event })).statusCode, 202, 'cached as valid')
  await revokeKey(database.db, displayPrefix(tenant.writeKey))
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event })).statusCode, 202, 'still cached: the revocation is not announced yet')
  await redis.publish(KEY_REVOCATIONS_CHANNEL, displayPrefix(tenant.writeKey))
  let status = 0
  for (let i = 0; i < 50 && status !== 401; i++) {
    await new Promise((r) => setTimeout(r, 20))
    status = (await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event })).statusCode
  }
  t.equal(status, 401, 'refused within moments of the announcement')
})

t.test('a client that sends its body too slowly is cut off', async (t) => {
  const { app, tenant } = await build(t, { REQUEST_TIMEOUT_MS: '500' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const started = Date.now()
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /api/v2/analytics/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tenant.writeKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type":`)
    })
    let data = ''
    socket.on('data', (d) => (data += d))
    socket.on('close', () => resolve(data))
    socket.on('error', () => resolve(data))
  })
  const elapsed = Date.now() - started
  t.ok(elapsed < 5_000, `closed after ${elapsed} ms`)
  t.match(answer, /^HTTP\/1\.1 408|^$/, 'a 408, or just the closed connection')
})
