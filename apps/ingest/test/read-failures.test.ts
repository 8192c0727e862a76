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
  t.match(res.json().message, /may fail the same way/, 'the body does not invite a retry')
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

t.test('dashboard reads take at most 5 connections of the pool: key checks go on while reads wait; past the line, 503', async (t) => {
  const { app, database, tenant } = await build(t)
  const newcomer = await createTenant(database.db, 'newcomer')
  const read = () => app.inject({ method: 'GET', url: `/api/v2/analytics/historical?${range}`, headers: { authorization: `Bearer ${tenant.readKey}` } })
  t.equal((await read()).statusCode, 200, 'the read key is checked and cached')
  let reads: Array<Promise<{ statusCode: number; headers: Record<string, unknown>; json(): { code: string } }>> = []
  await database.sql.begin(async (tx) => {
    // Every read of platform_metrics waits on this lock, as behind a slow query.
    await tx`lock table platform_metrics in access exclusive mode`
    reads = Array.from({ length: 110 }, () => read())
    await new Promise((resolve) => setTimeout(resolve, 300))
    // A key never checked before needs a connection of the same pool.
    const write = await Promise.race([
      app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${newcomer.writeKey}` }, payload: { events: [{ eventId: 'e1', type: 'pageview', page: '/', anonymousId: 'a' }] } }),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000)),
    ])
    t.equal(write?.statusCode, 202, 'a new key was checked while the reads waited')
  })
  const answers = await Promise.all(reads)
  const refused = answers.filter((a) => a.statusCode === 503)
  t.equal(answers.filter((a) => a.statusCode === 200).length, 105, '5 running and 100 in line answer once the lock is gone')
  t.equal(refused.length, 5, 'the rest are refused at once')
  t.ok(refused.every((a) => a.json().code === 'unavailable' && a.headers['retry-after'] === '1'), '503 unavailable, Retry-After: 1')
})
