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
import { build, redisState } from './fixtures/build.ts'

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
})
