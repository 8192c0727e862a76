import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { pino } from 'pino'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { freePort, startPostgres, testRedis } from '@tributary/servers'
import { buildApp } from '../src/app.ts'
import { loadIngestConfig } from '../src/config.ts'
import { build } from './fixtures/build.ts'

const range = 'from=2026-01-01&to=2026-01-07'

t.test('reads: Postgres unreachable is a 503 with Retry-After; a query Postgres refuses as written is a 500 without one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-read-pg-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pg = await startPostgres({ port: await freePort(), dataDir: join(dir, 'pg'), fsync: false })
  t.teardown(() => pg.stop())
  await runMigrations(pg.url)
  const { db, close } = createDatabase(pg.url, { applicationName: 'test', maxConnections: 1 })
  const tenant = await createTenant(db, 'reader')
  await close()
  const { url: redisUrl } = await testRedis(t)
  const app = await buildApp({ config: loadIngestConfig({ DATABASE_URL: pg.url, REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }), logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const read = () => app.inject({ method: 'GET', url: `/api/v2/analytics/historical?${range}`, headers: { authorization: `Bearer ${tenant.readKey}` } })
  t.equal((await read()).statusCode, 200, 'the key is checked and cached')
  await pg.stop()
  const down = await read()
  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'unavailable')
  t.ok(Number(down.headers['retry-after']) > 0, 'with Retry-After')
})

t.test('a read failure no retry can cure is a 500 internal_error, not a 503 inviting retries for ever', async (t) => {
  const { app, database, tenant } = await build(t)
  // A table gone (a database restored from before a migration, say): the query fails the same way every time.
  await database.sql`alter table platform_metrics rename to platform_metrics_gone`
  const res = await app.inject({ method: 'GET', url: `/api/v2/analytics/historical?${range}`, headers: { authorization: `Bearer ${tenant.readKey}` } })
  t.equal(res.statusCode, 500, res.body)
  t.equal(res.json().code, 'internal_error')
  t.equal(res.headers['retry-after'], undefined, 'no Retry-After')
})

t.test('historical refuses a limit, and an unknown query parameter is named as one', async (t) => {
  const { app, tenant } = await build(t)
  const headers = { authorization: `Bearer ${tenant.readKey}` }
  const limited = await app.inject({ method: 'GET', url: `/api/v2/analytics/historical?${range}&limit=5`, headers })
  t.equal(limited.statusCode, 400)
  t.same([limited.json().code, limited.json().message], ['unknown_field', 'unknown field "limit" in the query string'])
  t.equal((await app.inject({ method: 'GET', url: `/api/v2/analytics/historical/pages?${range}&limit=5`, headers })).statusCode, 200, 'the top lists take one')
})
