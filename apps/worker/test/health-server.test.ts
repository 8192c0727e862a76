import t from 'tap'
import { pino } from 'pino'
import { testRedis } from '@tributary/servers'
import { testDatabase } from '@tributary/db/testing'
import { buildHealthServer } from '../src/health-server.ts'
import { loadWorkerConfig } from '../src/config.ts'

t.test('worker /healthz and /readyz over real Redis and Postgres', async (t) => {
  const { sql } = await testDatabase(t)
  const { redis } = await testRedis(t)
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

t.test('worker config: defaults, and every bad variable reported', async (t) => {
  const config = loadWorkerConfig({ DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h' })
  t.equal(config.WORKER_PORT, 3001)
  const error = t.throws(() => loadWorkerConfig({ WORKER_PORT: 'x' })) as Error
  t.match(error.message, /DATABASE_URL/)
  t.match(error.message, /REDIS_URL/)
  t.match(error.message, /WORKER_PORT/)
})
