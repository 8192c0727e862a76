import t from 'tap'
import postgres from 'postgres'
import { cleanupAndSync, createDatabase } from '@tributary/db'
import { SYNC_AT_SHUTDOWN_MS } from '../src/worker.ts'
import { pipeline } from './fixtures/pipeline.ts'

t.test('cleanup-and-sync runs on one replica at a time; a replica dying mid-run frees the lock', async (t) => {
  const p = await pipeline(t)
  // Another replica, mid-run: it holds the lock inside an open transaction.
  const other = postgres(p.database.url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end({ timeout: 1 }).catch(() => {}))
  // Never resolves: the replica is still working when it dies.
  const held = new Promise<void>(() => {})
  let pid = 0
  const otherRun = other
    .begin(async (tx) => {
      ;[{ pid }] = (await tx`select pg_backend_pid() as pid, pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`) as unknown as [{ pid: number }]
      await held
    })
    .catch(() => 'terminated')
  await p.waitFor(async () => pid !== 0, 'the other replica to take the lock')

  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: false }), { ran: false }, 'a periodic run skips while another runs')

  // The other replica dies: its connection goes, and the lock with it.
  await p.database.sql`select pg_terminate_backend(${pid})`
  t.equal(await otherRun, 'terminated')
  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: false }), { ran: true }, 'the next run goes ahead')
})

t.test('workers marking a day are never held up by the sync recomputing it; a sync killed midway is finished by the next', async (t) => {
  const p = await pipeline(t)
  const { tenantId } = p.tenant
  const today = (await p.database.sql`select (now() at time zone 'UTC')::date::text as d`)[0]!.d as string
  await p.produce([{ eventId: 'e1', type: 'action', action: 'x', userId: 'u1' }])
  await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the event stored')
  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true }), { ran: true, syncedDays: 1 })

  // Pause the next sync inside its recompute: a client locks platform_metrics against
  // writes. A table lock takes no transaction id, so the sync does not wait for the client
  // as a writer (the next test) but blocks in the recompute's upsert.
  await p.produce([{ eventId: 'e2', type: 'action', action: 'x', userId: 'u2' }])
  await p.waitFor(async () => (await p.rowCount()) === 2, 'the second event stored')
  const blocker = postgres(p.database.url, { max: 1, onnotice: () => {} })
  t.teardown(() => blocker.end({ timeout: 1 }).catch(() => {}))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let locked = false
  const holding = blocker.begin(async (tx) => {
    await tx`lock table platform_metrics in share mode`
    locked = true
    await released
  })
  await p.waitFor(async () => locked, 'the table lock')
  // Settled into a value at once: it fails while the test awaits the kill, before any later
  // handler could be attached (an unhandled rejection otherwise).
  const sync = cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true }).then(
    () => undefined,
    (err: unknown) => err as Error,
  )
  await p.waitFor(async () => (await p.database.sql`select count(*)::int as n from metrics_syncing_days`)[0]!.n === 1, 'the sync to take today')
  await p.waitFor(async () => (await p.database.sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%platform_metrics%'`)[0]!.n === 1, 'the recompute to wait')

  // What a worker's batch does: mark today dirty. With the old one-transaction sync this
  // waited on the sync's uncommitted delete until the recompute finished.
  const started = performance.now()
  await p.database.sql.begin(async (tx) => {
    await tx`set local lock_timeout = '2s'`
    await tx`insert into metrics_dirty_days (tenant_id, date, recompute_activities) values (${tenantId}, ${today}::date, false) on conflict do nothing`
  })
  t.ok(performance.now() - started < 1_000, `marking took ${Math.round(performance.now() - started)} ms while the sync recomputed`)

  // The sync dies midway (its connection is killed): today stays taken, not lost.
  await p.database.sql`select pg_terminate_backend(pid) from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%platform_metrics%'`
  t.type(await sync, Error, 'the killed sync fails')
  release()
  await holding
  t.same((await p.database.sql`select date::text as d from metrics_syncing_days`).map((r) => r.d), [today], 'the taken day is still there')

  const next = await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true })
  t.match(next, { ran: true, syncedDays: 1 }, 'the next run recomputes it')
  t.equal((await p.database.sql`select count(*)::int as n from metrics_syncing_days`)[0]!.n, 0)
  const [day] = await p.database.sql`select events::int as events, active_users from platform_metrics where tenant_id = ${tenantId} and date = ${today}::date`
  t.match(day, { events: 2, active_users: 2 }, 'both events counted')
})

/**
 * One event stored by the worker (so today is marked dirty for its session), then what a
 * worker's batch does, held open before its commit: write another event of today with its
 * delta, upsert a session that starts today, then mark today — a mark that finds the row and
 * adds nothing, which is the window the sync must close for the session figures. (The
 * event is counted through its delta whatever the timing.)
 */
async function storedEventAndOpenBatch(t: Parameters<typeof pipeline>[0]) {
  const p = await pipeline(t)
  const { tenantId } = p.tenant
  await p.produce([{ eventId: 'e1', type: 'action', action: 'x', userId: 'u1' }])
  await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the event stored')
  const writer = postgres(p.database.url, { max: 1, onnotice: () => {} })
  let commit!: () => void
  const committed = new Promise<void>((resolve) => (commit = resolve))
  let marked = false
  const done = writer.begin(async (tx) => {
    await tx`insert into user_activities (tenant_id, event_id, user_key, type, action, occurred_at, received_at)
             values (${tenantId}, 'late', 'u:late', 'action', 'x', now(), now())`
    await tx`insert into activity_deltas (tenant_id, date, user_key, events, page_views) values (${tenantId}, (now() at time zone 'UTC')::date, 'u:late', 1, 0)`
    await tx`insert into user_sessions (tenant_id, id, user_key, started_at, last_seen_at) values (${tenantId}, 's-late', 'u:late', now(), now())`
    await tx`insert into metrics_dirty_days (tenant_id, date, recompute_activities) values (${tenantId}, (now() at time zone 'UTC')::date, false) on conflict do nothing`
    marked = true
    await committed
  })
  await p.waitFor(async () => marked, 'the batch to mark today')
  t.teardown(() => writer.end({ timeout: 1 }).catch(() => {}))
  return { p, tenantId, batch: { commit, done } }
}

t.test('a batch that marked its day before the sync took it, and commits after, is counted', async (t) => {
  const { p, tenantId, batch } = await storedEventAndOpenBatch(t)

  let settled = false
  const sync = cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true }).finally(() => (settled = true))
  // Ample time for a sync of one day that does not wait (it takes a few ms).
  await Promise.race([sync, new Promise((r) => setTimeout(r, 500))])
  t.notOk(settled, 'the sync waits for the batch that was writing when it began')
  t.equal((await p.database.sql`select count(*)::int as n from metrics_syncing_days`)[0]!.n, 1, 'having taken today')
  batch.commit()
  await batch.done
  t.match(await sync, { ran: true, syncedDays: 1, writersDone: true })
  const [day] = await p.database.sql`select events::int as events, active_users, sessions from platform_metrics where tenant_id = ${tenantId} and date = (now() at time zone 'UTC')::date`
  t.match(day, { events: 2, active_users: 2, sessions: 2 }, 'the late batch is counted, its session too')
})

t.test('a writer that outlasts the wait leaves its day dirty for the next run', async (t) => {
  const { p, tenantId, batch } = await storedEventAndOpenBatch(t)

  const first = await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true, writerWaitMs: 200 })
  t.match(first, { ran: true, syncedDays: 1, writersDone: false }, 'the sync gives up waiting')
  const counted = async () => (await p.database.sql`select events::int as events, sessions from platform_metrics where tenant_id = ${tenantId} and date = (now() at time zone 'UTC')::date`)[0]
  t.match(await counted(), { events: 1, sessions: 1 }, 'the open batch is not counted yet')
  t.equal((await p.database.sql`select count(*)::int as n from metrics_dirty_days`)[0]!.n, 1, 'today is dirty again')

  batch.commit()
  await batch.done
  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true }), { ran: true, syncedDays: 1, writersDone: true })
  t.match(await counted(), { events: 2, sessions: 2 }, 'the next run counts it')
})

t.test("the periodic run waits behind an on-demand sync holding the lock instead of skipping, and skips behind another replica's run", async (t) => {
  const p = await pipeline(t)
  const worker = await p.startWorker({ SYNC_INTERVAL_MS: '600000' })
  const holder = postgres(p.database.url, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end({ timeout: 1 }).catch(() => {}))
  /** Holds the cleanup-and-sync lock for `ms`, as POST /sync or a recompute does; as another replica's run when `asPeriodic`. */
  const holdLock = async (ms: number, asPeriodic = false) => {
    let taken!: () => void
    const tookIt = new Promise<void>((resolve) => (taken = resolve))
    const done = holder.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`
      taken()
      await new Promise((resolve) => setTimeout(resolve, ms))
      if (asPeriodic) await tx`insert into sync_runs (scope, last_run_at, duration_ms, synced_days, sessions_closed) values ('all', now(), ${ms}, 0, 0) on conflict (scope) do update set last_run_at = excluded.last_run_at`
    })
    await tookIt
    return { released: done }
  }

  // No run of every tenant yet: the holder is not a periodic run.
  const onDemand = await holdLock(500)
  const started = Date.now()
  t.match(await worker.sync(), { ran: true }, 'it waited for the lock and ran')
  t.ok(Date.now() - started >= 400, `after the holder let go (${Date.now() - started} ms)`)
  await onDemand.released

  // Another replica's periodic run holds it, and writes its run as it ends.
  const replica = await holdLock(500, true)
  t.match(await worker.sync(), { ran: false }, 'once that run is over, this one skips: one run per interval')
  await replica.released
})

t.test('stopping while the periodic run waits for the lock behind a long recompute: stop() returns after a bounded wait, not when the lock is free', async (t) => {
  const p = await pipeline(t)
  // Its own pool, which the test closes after stop(), as main.ts does: the waiting sync ends with it.
  const own = createDatabase(p.database.url, { applicationName: 'sync-at-shutdown', maxConnections: 3 })
  const worker = await p.startWorker({ SYNC_INTERVAL_MS: '600000' }, own.db)
  const holder = postgres(p.database.url, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end({ timeout: 1 }).catch(() => {}))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let taken!: () => void
  const tookIt = new Promise<void>((resolve) => (taken = resolve))
  // A recompute holding the lock for 25 s (released sooner once the test has its answer).
  const recompute = holder.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`
    taken()
    await Promise.race([released, new Promise((r) => setTimeout(r, 25_000))])
  })
  await tookIt
  const sync = worker.sync()
  await p.waitFor(async () => {
    const [row] = await p.database.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'sync-at-shutdown' and wait_event = 'advisory'`
    return row!.n > 0
  }, 'the periodic run waiting for the lock')
  const stopping = Date.now()
  await worker.stop()
  const took = Date.now() - stopping
  t.ok(took >= SYNC_AT_SHUTDOWN_MS - 500 && took < SYNC_AT_SHUTDOWN_MS + 5_000, `stop() returned after ${took} ms, with the lock still held`)
  await own.close() // main.ts's next step: the wait ends with the pool
  t.equal(await sync, undefined, 'the cut-off wait is no failure')
  t.equal(worker.stats.syncFailures, 0)
  release()
  await recompute
})
