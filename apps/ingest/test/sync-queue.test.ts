import t from 'tap'
import { createTenant } from '@tributary/db'
import { ApiError } from '../src/errors.ts'
import { createSyncQueue } from '../src/routes/sync-queue.ts'
import { pino } from 'pino'
import { buildApp } from '../src/app.ts'
import { build } from './fixtures/build.ts'

const tick = () => new Promise((resolve) => setTimeout(resolve, 5))

t.test('syncs run one at a time; a tenant already waiting shares the waiting run; past the limit, 429', async (t) => {
  let running = 0
  let most = 0
  const runs: string[] = []
  const gates: Array<() => void> = []
  const queue = createSyncQueue(async (tenantId: string) => {
    running++
    most = Math.max(most, running)
    runs.push(tenantId)
    await new Promise<void>((resolve) => gates.push(resolve))
    running--
    if (tenantId === 'fails') throw new Error('database gone')
    return `synced ${tenantId}`
  }, 3)
  const first = queue('a') // starts at once
  await tick()
  const second = queue('b')
  t.equal(queue('b'), second, 'a tenant already waiting shares the waiting run')
  const firstAgain = queue('a')
  t.not(firstAgain, first, 'a tenant whose run has started gets a new one: the running one may miss what it was asked for')
  const failing = queue('fails')
  t.throws(() => queue('d'), new ApiError(429, 'sync_busy', '3 syncs are already waiting in this process; the periodic sync runs every minute anyway', { retryAfterSeconds: 5 }), 'a fourth waiting tenant is refused')
  /** Lets the runs finish, one gate at a time, until `last` has settled. */
  const release = async (last: Promise<unknown>) => {
    let settled = false
    last.then(
      () => (settled = true),
      () => (settled = true),
    )
    while (!settled) {
      await tick()
      gates.shift()?.()
    }
  }
  await release(failing)
  t.equal(await first, 'synced a')
  t.equal(await second, 'synced b')
  t.equal(await firstAgain, 'synced a')
  await t.rejects(failing, /database gone/, 'a failed run fails its callers')
  const after = queue('c')
  await release(after)
  t.equal(await after, 'synced c', 'and does not stop the queue')
  t.equal(most, 1, 'never two at once')
  t.same(runs, ['a', 'b', 'a', 'fails', 'c'])
})

t.test('callers of /sync waiting for the cleanup-and-sync lock leave the pool to key checks', async (t) => {
  // Not spaced: callers arriving while a run is under way form a second run, which spacing would refuse.
  const { app, tenant, database } = await build(t, { SYNC_MIN_INTERVAL_MS: '0' })
  const other = await createTenant(database.db, 'other')
  let syncs: Array<Promise<{ statusCode: number }>> = []
  await database.sql.begin(async (tx) => {
    // Another process's sync holds the lock.
    await tx`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`
    syncs = Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/api/v2/analytics/sync', headers: { authorization: `Bearer ${tenant.readKey}` } }))
    await new Promise((resolve) => setTimeout(resolve, 200))
    // A key never checked before needs a connection of the pool.
    const started = Date.now()
    const write = await Promise.race([
      app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${other.writeKey}`, 'content-type': 'application/json' }, payload: { type: 'pageview', page: '/', anonymousId: 'a' } }),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3_000)),
    ])
    t.equal(write?.statusCode, 202, `ingestion went on while the syncs waited (${Date.now() - started} ms)`)
  })
  const answers = await Promise.all(syncs)
  t.same(answers.map((a) => a.statusCode), Array(12).fill(200), 'every sync answered once the lock came free')
})

t.test('a /sync that waits 10 s for a cleanup-and-sync running elsewhere gives up with a 503, and the line moves on', async (t) => {
  const { app, tenant, database } = await build(t)
  let answers: Array<{ statusCode: number; headers: Record<string, unknown>; json(): { code: string } }> = []
  await database.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`
    answers = [await app.inject({ method: 'POST', url: '/api/v2/analytics/sync', headers: { authorization: `Bearer ${tenant.readKey}` } })]
  })
  t.equal(answers[0]!.statusCode, 503)
  t.equal(answers[0]!.json().code, 'sync_busy')
  t.equal(answers[0]!.headers['retry-after'], '10')
  const after = await app.inject({ method: 'POST', url: '/api/v2/analytics/sync', headers: { authorization: `Bearer ${tenant.readKey}` } })
  t.equal(after.statusCode, 200, 'once the lock is free, syncs run again')
})

t.test("a tenant's /sync runs start SYNC_MIN_INTERVAL_MS apart across processes: a call sooner is a 429 at once; other tenants go on", async (t) => {
  // 4 s: long enough that a slow run of the first sync (a loaded CI machine) does not outlast the claim.
  const { app, tenant, database, redis, config } = await build(t, { SYNC_MIN_INTERVAL_MS: '4000' })
  // A second ingest process on the same Redis and Postgres.
  const second = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => second.close())
  const other = await createTenant(database.db, 'other')
  const sync = (on: typeof app, key: string) => on.inject({ method: 'POST', url: '/api/v2/analytics/sync', headers: { authorization: `Bearer ${key}` } })
  t.equal((await sync(app, tenant.readKey)).statusCode, 200)
  const claimed = await redis.pttl(`tributary:sync-recent:${tenant.tenantId}`)
  t.ok(claimed > 0 && claimed <= 4000, `the run claimed the tenant's slot for the interval (${claimed} ms)`)
  const started = Date.now()
  const sooner = await sync(second, tenant.readKey)
  t.equal(sooner.statusCode, 429, 'another process refuses the same tenant')
  t.equal(sooner.json().code, 'sync_busy')
  t.ok(['1', '2', '3', '4'].includes(String(sooner.headers['retry-after'])), `Retry-After is what is left of the interval (${String(sooner.headers['retry-after'])} s)`)
  t.ok(Date.now() - started < 3000, `at once, not after waiting out the interval (${Date.now() - started} ms)`)
  t.equal((await sync(second, other.readKey)).statusCode, 200, 'another tenant syncs')
  while ((await redis.pttl(`tributary:sync-recent:${tenant.tenantId}`)) > 0) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await sync(second, tenant.readKey)).statusCode, 200, 'once the interval is over, the tenant syncs again')
})
