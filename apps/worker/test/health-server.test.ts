import t from 'tap'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { testRedis } from '@tributary/servers'
import { testDatabase } from '@tributary/db/testing'
import { buildHealthServer } from '../src/health-server.ts'
import { loadWorkerConfig } from '../src/config.ts'

t.test('worker /healthz and /readyz over real Redis and Postgres', async (t) => {
  const { sql } = await testDatabase(t)
  const { redis } = await testRedis(t)
  await sql`select 1` // connected first: the checks wait at most 900 ms
  const app = buildHealthServer({ redis, sql, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/healthz' })).json(), { status: 'ok' })
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { ready: true })
  redis.disconnect()
  const down = await app.inject({ url: '/readyz' })
  t.equal(down.statusCode, 503)
  t.match(down.json(), { ready: false, checks: { redis: { ok: false }, postgres: { ok: true } } })
})

t.test("worker /readyz and the consumer's reads: not ready before the first read succeeds, nor when the last is too old", async (t) => {
  const { sql } = await testDatabase(t)
  const { redis } = await testRedis(t)
  await sql`select 1`
  let lastRead = 0
  const app = buildHealthServer({ redis, sql, logger: pino({ level: 'silent' }), loop: { lastTurnAt: () => lastRead, maxAgeMs: 1_000 } })
  t.teardown(() => app.close())
  const readyz = async () => (await app.inject({ url: '/readyz' })).json() as { ready: boolean; checks: { loop: { ok: boolean; error?: string } } }
  t.match(await readyz(), { ready: false, checks: { loop: { ok: false, error: 'no read from the streams has succeeded yet' } } })
  lastRead = Date.now()
  t.match(await readyz(), { ready: true, checks: { loop: { ok: true } } })
  lastRead = Date.now() - 5_000
  t.match(await readyz(), { ready: false, checks: { loop: { ok: false, error: /^the last read from the streams succeeded \d+ ms ago$/ } } })
})

t.test('worker /readyz with the command connection not up: an answer at once, not a PING left waiting', async (t) => {
  const { sql } = await testDatabase(t)
  // Never connected, with an offline queue: a PING would wait for ever.
  const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: null })
  t.teardown(() => redis.disconnect())
  await sql`select 1`
  const app = buildHealthServer({ redis, sql, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const started = Date.now()
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.match(res.json(), { checks: { redis: { ok: false, error: 'not connected (wait)' } } })
  t.ok(Date.now() - started < 900, 'without waiting for the deadline')
  t.equal((redis as unknown as { offlineQueue: { length: number } }).offlineQueue.length, 0, 'nothing left in the offline queue')
})

t.test('worker config: defaults, and every bad variable reported', async (t) => {
  const config = loadWorkerConfig({ DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h' })
  t.equal(config.WORKER_PORT, 3001)
  const error = t.throws(() => loadWorkerConfig({ WORKER_PORT: 'x' })) as Error
  t.match(error.message, /DATABASE_URL/)
  t.match(error.message, /REDIS_URL/)
  t.match(error.message, /WORKER_PORT/)
})
