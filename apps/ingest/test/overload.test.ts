import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { pino } from 'pino'
import { freePort, startRedis } from '@tributary/servers'
import { testDatabase } from '@tributary/db/testing'
import { createTenant } from '@tributary/db'
import { buildApp } from '../src/app.ts'
import { loadIngestConfig } from '../src/config.ts'
import { Redis } from 'ioredis'
import { build, ownRedis, redisState, storedEvents } from './fixtures/build.ts'

const event = (i: number) => ({ eventId: `e${i}`, type: 'action', action: 'x', userId: 'u' })

t.test('over the per-key rate: 429 with Retry-After, nothing written; other keys unaffected', async (t) => {
  const { app, tenant, redis, database } = await build(t, { RATE_LIMIT_EVENTS_PER_SECOND: '100' })
  const { createTenant } = await import('@tributary/db')
  const other = await createTenant(database.db, 'other')
  const headers = { authorization: `Bearer ${tenant.writeKey}` }
  // Stay inside one wall-clock second so the window cannot roll over mid-test.
  while (Date.now() % 1000 > 300) await new Promise((r) => setTimeout(r, 20))
  const first = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: { events: Array.from({ length: 80 }, (_, i) => event(i)) } })
  t.equal(first.statusCode, 202)
  const before = await redisState(redis)
  const over = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: { events: Array.from({ length: 30 }, (_, i) => event(100 + i)) } })
  t.equal(over.statusCode, 429)
  t.equal(over.json().code, 'rate_limited')
  t.ok(Number(over.headers['retry-after']) >= 1, 'Retry-After is set')
  t.equal(over.headers['x-ratelimit-reset'], over.headers['retry-after'], 'and X-RateLimit-Reset, which analytics.js reads instead')
  t.same(await redisState(redis), before, 'the refused request wrote nothing')
  const otherKey = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${other.writeKey}` }, payload: event(1) })
  t.equal(otherKey.statusCode, 202, 'the limit is per key')
  const spoofed = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { ...headers, 'x-forwarded-for': '203.0.113.9' }, payload: { events: Array.from({ length: 30 }, (_, i) => event(200 + i)) } })
  t.equal(spoofed.statusCode, 429, 'a forged X-Forwarded-For does not reset it')
})

t.test('backlog over its cap: 503 with Retry-After, nothing written', async (t) => {
  const { app, write, redis } = await build(t, { STREAM_BACKLOG_CAP: '3', STREAM_SHARDS: '1' })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: event(i) })).statusCode, 202)
  const before = await redisState(redis)
  const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: event(10) })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'backlog_full')
  t.ok(Number(res.headers['retry-after']) > 0)
  t.same(await redisState(redis), before)
})

t.test('Redis down: 503 fast with Retry-After, never a 500; back to 202 when it returns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-redis-down-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  let server = await startRedis({ port, dir, appendfsync: 'everysec', noSnapshots: true })
  t.teardown(() => server.stop())
  const database = await testDatabase(t)
  const tenant = await createTenant(database.db, 'acme')
  const config = loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: server.url, LOG_LEVEL: 'silent' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const headers = { authorization: `Bearer ${tenant.writeKey}` }
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event(1) })).statusCode, 202)

  await server.stop()
  const started = performance.now()
  const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event(100 + i) })))
  const elapsed = performance.now() - started
  t.ok(responses.every((r) => r.statusCode === 503), `all 503 (${[...new Set(responses.map((r) => r.statusCode))]})`)
  t.ok(responses.every((r) => r.json().code === 'unavailable' && Number(r.headers['retry-after']) > 0))
  t.ok(elapsed < 2_000, `50 requests answered in ${elapsed.toFixed(0)} ms, not queued`)
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 503, 'readiness reports it')

  server = await startRedis({ port, dir, appendfsync: 'everysec', noSnapshots: true })
  let status = 0
  for (let i = 0; i < 100 && status !== 202; i++) {
    await new Promise((r) => setTimeout(r, 100))
    status = (await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: event(500 + i) })).statusCode
  }
  t.equal(status, 202, 'recovers by itself')
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, 'and readiness with it')
  // No queued command reached the restarted Redis: none of the refused events is in a
  // stream, and their ids are not marked as seen, so the client's retry is accepted.
  const probe = new Redis(server.url)
  t.teardown(() => probe.disconnect())
  const stored = (await storedEvents(probe, config.STREAM_SHARDS)).map((e) => e.eventId)
  t.notOk(stored.some((id) => /^e1\d\d$/.test(id)), 'none of e100–e149 was written')
  const retry = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: { events: Array.from({ length: 50 }, (_, i) => event(100 + i)) } })
  t.match(retry.json(), { accepted: 50, duplicates: 0 }, 'the retry of the refused events is accepted whole')
})

t.test('Redis out of memory: 503 with Retry-After, never a 500, nothing written, not even the seen ids; accepted again once memory is freed', async (t) => {
  const { url, admin: redis } = await ownRedis(t)
  const database = await testDatabase(t)
  const tenant = await createTenant(database.db, 'acme')
  const config = loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: url, LOG_LEVEL: 'silent' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const headers = { authorization: `Bearer ${tenant.writeKey}` }
  const batch = (from: number) => ({ events: Array.from({ length: 20 }, (_, i) => ({ ...event(from + i), type: 'pageview', page: `/p${i}` })) })
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: batch(0) })).statusCode, 202)

  // Below what Redis already holds: every write is refused, reads still answer.
  await redis.config('SET', 'maxmemory', '1')
  const before = await redisState(redis)
  const refused = await Promise.all([
    app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: batch(100) }),
    app.inject({ method: 'POST', url: '/v1/batch', headers: { authorization: `Basic ${Buffer.from(`${tenant.writeKey}:`).toString('base64')}` }, payload: { batch: [{ type: 'track', event: 'x', userId: 'u', messageId: 'm1' }] } }),
    app.inject({ method: 'POST', url: '/api/v2/analytics/sessions', headers, payload: { sessionId: 's-oom', userId: 'u' } }),
  ])
  for (const res of refused) {
    t.equal(res.statusCode, 503, '503')
    t.equal(res.json().code, 'unavailable')
    t.ok(Number(res.headers['retry-after']) > 0, 'with Retry-After')
  }
  t.same(await redisState(redis), before, 'nothing changed: no entry, no seen id, no counter, no session')

  await redis.config('SET', 'maxmemory', '0')
  const again = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: batch(100) })
  t.equal(again.statusCode, 202)
  t.match(again.json(), { accepted: 20, duplicates: 0 }, 'the refused events are accepted on retry, not taken for duplicates')
})
