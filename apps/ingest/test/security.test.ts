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
  if (answer) t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { statusCode: 408, code: 'request_timeout', error: 'Request Timeout' }, 'in the usual error body, with a code')
})

t.test('a request that is not HTTP: 400 in the usual error body, with a code', async (t) => {
  const { app } = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'))
    let data = ''
    socket.on('data', (d) => (data += d))
    socket.on('close', () => resolve(data))
    socket.on('error', () => resolve(data))
  })
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(answer, /\r\nAccess-Control-Allow-Origin: \*\r\n/)
  t.same(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { statusCode: 400, code: 'bad_request', error: 'Bad Request', message: 'the request is not valid HTTP/1.1' })
})

t.test('Postgres down: keys seen recently keep working (stale cache), a new key gets 503, never 500', async (t) => {
  const { chmodSync, mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { pino } = await import('pino')
  const { freePort, startPostgres, testRedis } = await import('@tributary/servers')
  const { createTenant, runMigrations, createDatabase } = await import('@tributary/db')
  const { buildApp } = await import('../src/app.ts')
  const { loadIngestConfig } = await import('../src/config.ts')
  const dir = mkdtempSync(join(tmpdir(), 'tributary-keys-pg-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const options = { port: await freePort(), dataDir: join(dir, 'pg'), fsync: false }
  let pg = await startPostgres(options)
  t.teardown(() => pg.stop())
  await runMigrations(pg.url)
  const { db, close } = createDatabase(pg.url, { applicationName: 'test', maxConnections: 1 })
  const known = await createTenant(db, 'known')
  const other = await createTenant(db, 'other')
  await close()
  const { url: redisUrl } = await testRedis(t)
  const app = await buildApp({ config: loadIngestConfig({ DATABASE_URL: pg.url, REDIS_URL: redisUrl, LOG_LEVEL: 'silent', KEY_CACHE_TTL_MS: '50' }), logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const send = (key: string) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${key}` }, payload: event })
  t.equal((await send(known.writeKey)).statusCode, 202)
  await pg.stop()
  await new Promise((r) => setTimeout(r, 100)) // past the cache TTL
  t.equal((await send(known.writeKey)).statusCode, 202, 'the recently seen key still ingests')
  const unseen = await send(other.writeKey)
  t.equal(unseen.statusCode, 503, 'a key never seen cannot be checked: 503')
  t.equal(unseen.json().code, 'unavailable')
  pg = await startPostgres(options)
})

t.test('a burst of made-up keys: 401s while the key lookups keep up, then 503s with Retry-After, never a 500; real keys go on', async (t) => {
  const { app, tenant } = await build(t)
  const headers = { authorization: `Bearer ${tenant.writeKey}` }
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: { type: 'x', userId: 'u' } })).statusCode, 202)
  const burst = await Promise.all(
    Array.from({ length: 300 }, (_, i) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer wk_madeup${String(i).padStart(27, '0')}` }, payload: { type: 'x', userId: 'u' } })),
  )
  const statuses = burst.map((r) => r.statusCode)
  t.ok(statuses.every((s) => s === 401 || s === 503), `only 401 and 503 (${[...new Set(statuses)]})`)
  const busy = burst.filter((r) => r.statusCode === 503)
  t.ok(busy.length >= 150, `most refused without a lookup (${busy.length} of 300)`)
  t.ok(busy.every((r) => r.json().code === 'unavailable' && r.headers['retry-after'] === '1'))
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: { type: 'x', userId: 'u' } })).statusCode, 202, 'the real key, cached, is unaffected')
})
