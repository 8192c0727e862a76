import { sql, type SQL } from 'drizzle-orm'
import {
  ACTIVE_USERS_SQL,
  addDays,
  APPLY_DELTAS_SQL,
  CLEAR_DAILY_NAMES_SQL,
  CLEAR_DAILY_USERS_SQL,
  REBUILD_DAILY_USERS_SQL,
  REBUILD_NAMES_SQL,
  RECOMPUTE_DAYS_SQL,
  SESSION_DAYS_SQL,
  UNNAMED_DAYS_SQL,
  totalsOf,
  zeroFill,
  publicDay,
  type StoredDay,
} from '@tributary/shared'
import type { Database } from './client.ts'
import { READ_TENANT_SETTING } from './schema/tenant-reads.ts'

/** Turns `$1`-style placeholders into Drizzle parameters (each occurrence its own). */
function bind(text: string, values: unknown[]): SQL {
  const parts = text.split(/\$(\d+)/)
  const chunks: SQL[] = []
  parts.forEach((part, i) => chunks.push(i % 2 === 0 ? sql.raw(part) : sql`${values[Number(part) - 1]}`))
  return sql.join(chunks)
}

/** A Postgres array literal of values with nothing to escape: dates (YYYY-MM-DD) or uuids. */
const plainArray = (values: string[]) => `{${values.join(',')}}`

export interface SyncResult {
  /** false when another replica held the lock as this run began (periodic runs do not wait for it then). */
  ran: boolean
  syncedDays: number
  /** Past days whose top pages and events were built from their raw rows (buildNames; every-tenant runs only). */
  namedDays: number
  /** Why some days' pages and names could not be built; they are read from their raw rows. */
  namesError?: string
  sessionsClosed: number
  /** false when a transaction writing as the recompute began outlasted `writerWaitMs`; the days stay dirty. */
  writersDone: boolean
  durationMs: number
}

export interface SyncOptions {
  sessionTimeoutMinutes: number
  /** Only this tenant (POST /sync); every tenant otherwise. */
  tenantId?: string
  /** Wait for a run in progress elsewhere instead of skipping. */
  wait: boolean
  /**
   * With `wait`: give up after this long (the error's code is 55P03, lock_not_available)
   * rather than wait for a run that may hold the lock for minutes.
   */
  lockTimeoutMs?: number
  /**
   * Once the lock is taken, skip (ran: false) when a run of every tenant ended within this
   * long: another replica's periodic run, which this one waited behind.
   */
  unlessRanWithinMs?: number
  /** How long the recompute waits for transactions writing when it starts (default 30 s). */
  writerWaitMs?: number
  /** Raw rows a run reads at most to build past days' pages and names (default NAME_ROWS_PER_RUN). */
  nameRowsPerRun?: number
}

const DEFAULT_WRITER_WAIT_MS = 30_000

/**
 * Raw rows a run reads at most to build days' pages and names: a few seconds (the reads
 * bench recomputes a year of 10M events whole, figures and users included, in ~13 s, and a
 * build is part of that work); at least one day, however large. After migration 0011 that
 * brings a history up to date 2M events a minute, the latest days first; `tributary
 * recompute` does a range at once.
 */
export const NAME_ROWS_PER_RUN = 2_000_000

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0]

/**
 * Builds daily_pages and daily_event_names for past days that lack them (UNNAMED_DAYS_SQL),
 * the latest first, until `rowBudget` raw rows, one tenant per transaction under the sync's
 * lock (taken as `wait` says; a run that finds it held stops there: the holder is another
 * replica's run). A tenant whose build fails is tried again an hour later (names_built_at)
 * and read from its raw rows meanwhile; the others go on. Returns the days built and the
 * first failure. Never throws: the figures of steps 1 and 2 are committed by then.
 */
async function buildNames(db: Database, lock: (tx: Transaction, wait: boolean) => Promise<boolean>, wait: boolean, rowBudget: number): Promise<{ days: number; error?: string }> {
  let days = 0
  let error: string | undefined
  const failed = (what: string, err: unknown) => {
    // Drizzle's message is the whole query; Postgres's own is the cause's.
    error ??= `${what}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}`
  }
  try {
    const candidates = await db.execute<{ tenant_id: string; date: string; timezone: string; events: string }>(bind(UNNAMED_DAYS_SQL, [null]))
    const byTenant = new Map<string, { timezone: string; dates: string[] }>()
    let rows = 0
    let taken = 0
    for (const day of candidates) {
      if (taken > 0 && rows + Number(day.events) > rowBudget) break
      rows += Number(day.events)
      taken++
      const entry = byTenant.get(day.tenant_id) ?? { timezone: day.timezone, dates: [] }
      entry.dates.push(day.date)
      byTenant.set(day.tenant_id, entry)
    }
    for (const [id, { timezone, dates }] of byTenant) {
      try {
        const built = await db.transaction(async (tx) => {
          if (!(await lock(tx, wait))) return false
          await tx.execute(bind(CLEAR_DAILY_NAMES_SQL, [id, plainArray(dates)]))
          await tx.execute(bind(REBUILD_NAMES_SQL, [id, timezone, plainArray(dates)]))
          return true
        })
        if (!built) break
        days += dates.length
      } catch (err) {
        failed(`tenant ${id}, ${dates.length} days from ${dates.at(-1)}`, err)
        await db.execute(sql`update platform_metrics set names_built_at = now() where tenant_id = ${id} and date = any(${plainArray(dates)}::date[])`)
      }
    }
  } catch (err) {
    failed('building top pages and events', err)
  }
  return error === undefined ? { days } : { days, error }
}

/**
 * Waits until no transaction that held a transaction id at the call is still running, by
 * polling snapshots: an id that has left the in-progress list of a snapshot is visible to
 * every later statement. Resolves true when they all finished, false after `timeoutMs`.
 * A poll, not a lock wait, so Postgres's deadlock detector cannot see it — nothing a
 * worker does waits on the sync's second transaction, and the timeout bounds it anyway.
 */
async function waitForWriters(tx: Transaction, timeoutMs: number): Promise<boolean> {
  /** Transaction ids in progress now (other than ours), among `among` when given. */
  const inProgress = async (among?: string[]) => {
    const [row] = await tx.execute<{ xids: string[] }>(sql`
      select coalesce(array_agg(x::text), '{}') as xids from pg_snapshot_xip(pg_current_snapshot()) x
      where x is distinct from pg_current_xact_id_if_assigned() ${among ? sql`and x = any(${`{${among.join(',')}}`}::xid8[])` : sql``}`)
    return row?.xids ?? []
  }
  let running = await inProgress()
  const deadline = performance.now() + timeoutMs
  let pause = 2
  while (running.length > 0) {
    if (performance.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, pause))
    pause = Math.min(pause * 2, 100)
    running = await inProgress(running)
  }
  return true
}

/**
 * Cleanup-and-sync, in two transactions, each under a transaction-scoped advisory lock — so
 * one runs at a time across all replicas, and a replica that dies mid-run releases it with
 * its connection:
 *   1. (short) close sessions idle past the timeout (inactive, ended_at = last_seen_at),
 *      marking their start days dirty; then take the dirty (tenant, day) pairs — the start
 *      days of the sessions the worker wrote since the last run, late and back-dated ones
 *      included, and days marked for a whole recompute — by moving them to
 *      metrics_syncing_days, and commit. Workers marking those days again meanwhile add
 *      fresh dirty rows without waiting on anything.
 *   2. recompute the taken days (their session figures from user_sessions, or the whole day
 *      from the raw tables when so marked; idempotent upserts) and remove them from
 *      metrics_syncing_days; days a failed or killed run left there are recomputed by the
 *      next. Then add up the activity deltas the workers appended since the last run, and
 *      count the active users of every day they touched from its bitmaps. Each delta is taken
 *      in the statement that adds it, so none is counted twice or missed, whatever the timing.
 *   3. (every-tenant runs) build past days' top pages and events from their raw rows, within
 *      a budget, a transaction per tenant (buildNames); a failure there leaves steps 1 and 2
 *      committed and is reported in the result.
 * Before step 2 reads a raw row it waits for every transaction that was writing when it
 * began (waitForWriters). A worker batch marks its days after writing its rows, and a mark
 * that finds the day's row already there adds nothing and waits for nothing; without the
 * wait, a batch that marked before step 1 took the day but committed after the recompute
 * read it would be left out for good (a back-dated day is not marked again). Every such
 * batch is either still running when step 2 starts — and waited for — or committed, and
 * so visible. A writer still running after `writerWaitMs` (an operator's long
 * transaction, say) is not waited for any longer: the days are recomputed and marked
 * dirty again, so the next run recomputes them once it has finished.
 */
export async function cleanupAndSync(db: Database, options: SyncOptions): Promise<SyncResult> {
  const started = performance.now()
  const tenantFilter = options.tenantId ? sql`and tenant_id = ${options.tenantId}` : sql``
  const lock = async (tx: Transaction, wait: boolean) => {
    if (wait) {
      if (options.lockTimeoutMs !== undefined) await tx.execute(sql`select set_config('lock_timeout', ${`${Math.ceil(options.lockTimeoutMs)}ms`}, true)`)
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`)
      if (options.lockTimeoutMs !== undefined) await tx.execute(sql`select set_config('lock_timeout', '0', true)`)
      return true
    }
    const [row] = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(hashtext('tributary:cleanup-and-sync')) as locked`)
    return row?.locked === true
  }
  const sessionsClosed = await db.transaction(async (tx) => {
    if (!(await lock(tx, options.wait))) return undefined
    if (options.unlessRanWithinMs !== undefined) {
      const [recent] = await tx.execute<{ recent: boolean }>(sql`
        select exists(select 1 from sync_runs where scope = 'all' and last_run_at > clock_timestamp() - make_interval(secs => ${options.unlessRanWithinMs / 1000})) as recent`)
      if (recent?.recent) return undefined
    }
    const [closed] = await tx.execute<{ closed: number }>(sql`
      with closed as (
        update user_sessions set is_active = false, ended_at = last_seen_at, timed_out = true, updated_at = now()
        where is_active and ended_at is null and last_seen_at < now() - make_interval(mins => ${options.sessionTimeoutMinutes}) ${tenantFilter}
        returning tenant_id, started_at
      ),
      marked as (
        insert into metrics_dirty_days (tenant_id, date, recompute_activities)
        select distinct c.tenant_id, tributary_local_day(c.started_at, tn.timezone), false from closed c join tenants tn on tn.id = c.tenant_id
        on conflict do nothing
      )
      select count(*)::int as closed from closed`)
    // A second statement: it sees the days the first one marked.
    await tx.execute(sql`
      with taken as (delete from metrics_dirty_days where true ${tenantFilter} returning tenant_id, date, recompute_activities)
      insert into metrics_syncing_days as s (tenant_id, date, recompute_activities) select tenant_id, date, recompute_activities from taken
      on conflict (tenant_id, date) do update set recompute_activities = s.recompute_activities or excluded.recompute_activities`)
    return closed?.closed ?? 0
  })
  if (sessionsClosed === undefined) return { ran: false, syncedDays: 0, namedDays: 0, sessionsClosed: 0, writersDone: true, durationMs: Math.round(performance.now() - started) }
  const { result, runAt } = await db.transaction(async (tx) => {
    // Waits at most for another replica's recompute; that one may have taken our days already.
    await lock(tx, true)
    const writersDone = await waitForWriters(tx, options.writerWaitMs ?? DEFAULT_WRITER_WAIT_MS)
    const syncing = await tx.execute<{ tenant_id: string; date: string; whole: boolean; timezone: string }>(sql`
      select s.tenant_id, s.date::text as date, s.recompute_activities as whole, tn.timezone from metrics_syncing_days s join tenants tn on tn.id = s.tenant_id
      where true ${options.tenantId ? sql`and s.tenant_id = ${options.tenantId}` : sql``} order by 1, 2`)
    const byTenant = new Map<string, { timezone: string; whole: string[]; sessions: string[] }>()
    for (const row of syncing) {
      const entry = byTenant.get(row.tenant_id) ?? { timezone: row.timezone, whole: [], sessions: [] }
      ;(row.whole ? entry.whole : entry.sessions).push(row.date)
      byTenant.set(row.tenant_id, entry)
    }
    /** (tenant, day) pairs whose active users to count again from the bitmaps. */
    const touched = new Map<string, Set<string>>()
    const touch = (tenantId: string, dates: string[]) => {
      const days = touched.get(tenantId) ?? new Set<string>()
      for (const d of dates) days.add(d)
      touched.set(tenantId, days)
    }
    for (const [tenantId, { timezone, whole, sessions }] of byTenant) {
      if (whole.length > 0) {
        await tx.execute(bind(CLEAR_DAILY_NAMES_SQL, [tenantId, plainArray(whole)]))
        await tx.execute(bind(RECOMPUTE_DAYS_SQL, [tenantId, timezone, plainArray(whole)]))
        await tx.execute(bind(CLEAR_DAILY_USERS_SQL, [tenantId, plainArray(whole)]))
        await tx.execute(bind(REBUILD_DAILY_USERS_SQL, [tenantId, timezone, plainArray(whole)]))
        touch(tenantId, whole)
      }
      if (sessions.length > 0) await tx.execute(bind(SESSION_DAYS_SQL, [tenantId, timezone, plainArray(sessions)]))
      const dates = [...whole, ...sessions]
      await tx.execute(sql`delete from metrics_syncing_days where tenant_id = ${tenantId} and date = any(${plainArray(dates)}::date[])`)
      if (!writersDone) {
        await tx.execute(sql`
          insert into metrics_dirty_days as m (tenant_id, date, recompute_activities)
          select ${tenantId}, d, d = any(${plainArray(whole)}::date[]) from unnest(${plainArray(dates)}::date[]) d
          on conflict (tenant_id, date) do update set recompute_activities = m.recompute_activities or excluded.recompute_activities`)
      }
    }
    const applied = await tx.execute<{ tenant_id: string; date: string }>(bind(APPLY_DELTAS_SQL, [options.tenantId ?? null]))
    for (const row of applied) touch(row.tenant_id, [row.date])
    const pairs: { tenantIds: string[]; dates: string[] } = { tenantIds: [], dates: [] }
    for (const [tenantId, days] of touched) {
      for (const d of days) {
        pairs.tenantIds.push(tenantId)
        pairs.dates.push(d)
      }
    }
    if (pairs.dates.length > 0) await tx.execute(bind(ACTIVE_USERS_SQL, [plainArray(pairs.tenantIds), plainArray(pairs.dates)]))
    let syncedDays = pairs.dates.length
    for (const [tenantId, { sessions }] of byTenant) syncedDays += sessions.filter((d) => !touched.get(tenantId)?.has(d)).length
    const result: SyncResult = { ran: true, syncedDays, namedDays: 0, sessionsClosed, writersDone, durationMs: Math.round(performance.now() - started) }
    const [run] = await tx.execute<{ at: string }>(sql`
      insert into sync_runs (scope, last_run_at, duration_ms, synced_days, sessions_closed)
      values (${options.tenantId ?? 'all'}, now(), ${result.durationMs}, ${result.syncedDays}, ${result.sessionsClosed})
      on conflict (scope) do update set last_run_at = excluded.last_run_at, duration_ms = excluded.duration_ms,
        synced_days = excluded.synced_days, sessions_closed = excluded.sessions_closed
      returning last_run_at::text as at`)
    return { result, runAt: run!.at }
  })
  // Past days' pages and names, in transactions of their own: what fails there must not
  // undo the figures above. Not for one tenant's sync (POST /sync, which wants its figures
  // now; the top lists read unbuilt days from their raw rows anyway).
  if (options.tenantId === undefined) {
    const built = await buildNames(db, lock, options.wait, options.nameRowsPerRun ?? NAME_ROWS_PER_RUN)
    result.namedDays = built.days
    if (built.error !== undefined) result.namesError = built.error
  }
  result.durationMs = Math.round(performance.now() - started)
  if (options.tenantId === undefined) {
    // The run's row counts the build too; unless a later run has written the row since. Its
    // figures are committed: failing here must not report the run as failed.
    await db.execute(sql`update sync_runs set duration_ms = ${result.durationMs} where scope = 'all' and last_run_at = ${runAt}::timestamptz`).catch(() => {})
  }
  return result
}

/**
 * Asks the next cleanup-and-sync to rebuild these days of a tenant whole, from the raw rows:
 * after rows were written other than by a worker (a restore, a repair, generated data), which
 * wrote no activity deltas for them. A session mark already on a day is upgraded, not
 * skipped: a plain `on conflict do nothing` would lose the request on any day a worker has
 * marked, today nearly always.
 */
export async function markDaysForRecompute(db: Database, tenantId: string, dates: string[]): Promise<void> {
  await db.execute(sql`
    insert into metrics_dirty_days as m (tenant_id, date, recompute_activities)
    select ${tenantId}, d, true from unnest(${plainArray(dates)}::date[]) d
    on conflict (tenant_id, date) do update set recompute_activities = true`)
}

export interface Range {
  from: string
  to: string
}

/** A dashboard read longer than this is cancelled (57014, a 503): it holds a pooled connection that key checks share. */
const READ_STATEMENT_TIMEOUT = '30s'

/**
 * A dashboard read of one tenant: its statements in one read-only snapshot, each cancelled
 * after READ_STATEMENT_TIMEOUT, run as the database's reader role with `tenantId` as the only
 * tenant whose rows its tables show (row-level security, schema/tenant-reads.ts). The queries
 * filter by tenant themselves; the policies are there for the one that forgets to.
 * `settings`: more of the transaction's settings (planner ones, say), made in the same statement.
 */
export function readSnapshot<T>(db: Database, tenantId: string, work: (tx: Transaction) => Promise<T>, settings: Record<string, string> = {}): Promise<T> {
  const more = Object.entries(settings).map(([name, value]) => sql`set_config(${name}, ${value}, true), `)
  return db.transaction(
    async (tx) => {
      // All transaction-local (the `true`): the pooled connection is itself again at commit.
      // The role last, so its name is read as the owner. Should reader_role be empty, the
      // switch to a role that does not exist fails the read: it never runs as the owner.
      await tx.execute(sql`select set_config('statement_timeout', ${READ_STATEMENT_TIMEOUT}, true), set_config(${READ_TENANT_SETTING}, ${tenantId}, true), ${sql.join(more)}
        set_config('role', coalesce((select name from reader_role), 'tributary_read_missing'), true)`)
      return work(tx)
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  )
}

/** Daily metrics over a range (zero-filled, ascending) and the totals. */
export async function historical(db: Database, tenantId: string, timezone: string, range: Range) {
  // One snapshot for both statements: a sync committing between them would give totals that disagree with the days.
  const { rows, distinct } = await readSnapshot(db, tenantId, async (tx) => {
    // events and page_views are bigint, which postgres.js reads as strings: exact as numbers up to 2^53.
    const rows = await tx.execute<{ date: string; active_users: number; sessions: number; avg: number; ended: number; events: string; page_views: string }>(sql`
      select date::text as date, active_users, sessions, avg_session_duration_seconds as avg, ended_sessions as ended, events, page_views
      from platform_metrics where tenant_id = ${tenantId} and date between ${range.from}::date and ${range.to}::date`)
    const [distinct] = await tx.execute<{ users: number }>(sql`
      select coalesce(sum(bit_count(u)), 0)::int as users from (
        select bit_or(users) as u from daily_user_bitmaps
        where tenant_id = ${tenantId} and date between ${range.from}::date and ${range.to}::date
        group by chunk) chunks`)
    return { rows, distinct }
  })
  const stored: StoredDay[] = rows.map((r) => ({ date: r.date, activeUsers: r.active_users, sessions: r.sessions, avgSessionDurationSeconds: r.avg, endedSessions: r.ended, events: Number(r.events), pageViews: Number(r.page_views) }))
  const days = zeroFill(range.from, range.to, stored)
  return { days: days.map(publicDay), totals: totalsOf(days, distinct?.users ?? 0) }
}

/**
 * A top list over a range: from the daily rows of `rollup` for the days whose pages and
 * names are built and whole (named_events = events: past days, as of the last sync), and from
 * the raw rows for the other days of the range (today, a day with later rows, a day not
 * built yet or with no figures yet), which are as fresh as the stored rows. `raw` selects the
 * raw rows (alias a) with `columns`, to which each raw day's bounds are added.
 *
 * The days are sorted out first, so the query names them: planned as a set, with the
 * estimates of freshly built tables, it took nested loops over every pair (3 s for a year),
 * and a raw day's estimated cost alone passed jit_above_cost, so JIT compiled it for ~350 ms
 * on each call. JIT is off for the two statements.
 */
async function topOf<Row extends Record<string, unknown>>(db: Database, tenantId: string, timezone: string, range: Range, rollup: { table: string; columns: string; count: string }, raw: SQL, limit: number, order: string): Promise<Row[]> {
  // One snapshot for both statements: the days the first finds built are the ones the second reads.
  // JIT off (above), and custom plans: postgres.js prepares its statements, and after five runs
  // Postgres may plan one generically, without the bounds; these are cheap to plan each time.
  const settings = { jit: 'off', plan_cache_mode: 'force_custom_plan' }
  return readSnapshot(db, tenantId, async (tx) => {
    const days = await tx.execute<{ date: string; named: boolean }>(sql`
      select (${range.from}::date + i)::text as date, coalesce(pm.named_events = pm.events, false) as named
      from generate_series(0, ${range.to}::date - ${range.from}::date) i
      left join platform_metrics pm on pm.tenant_id = ${tenantId} and pm.date = ${range.from}::date + i
      order by i`)
    const named = days.filter((d) => d.named).map((d) => d.date)
    const rawDays = days.filter((d) => !d.named).map((d) => d.date)
    const parts: SQL[] = []
    if (named.length > 0) {
      // Summed here, so the union carries a row per page (or name), not one per page and day.
      parts.push(sql`select ${sql.raw(rollup.columns)}, sum(${sql.raw(rollup.count)}) as n from ${sql.raw(rollup.table)}
        where tenant_id = ${tenantId} and date = any(${plainArray(named)}::date[]) group by ${sql.raw(rollup.columns)}`)
    }
    // Each run of consecutive raw days as one range with constant bounds, which the planner
    // sees: with the bounds from a lateral join it scanned the tenant's rows by its key
    // instead (1.3 s for one day's top pages of a tenant with 10M rows).
    for (const [first, last] of runsOf(rawDays)) {
      parts.push(sql`select ${sql.raw(rollup.columns)}, count(*) as n from (
          ${raw} and a.occurred_at >= (${first}::date::timestamp at time zone ${timezone}) and a.occurred_at < ((${last}::date + 1)::timestamp at time zone ${timezone})
        ) a group by ${sql.raw(rollup.columns)}`)
    }
    const rows = await tx.execute<Row>(sql`
      select ${sql.raw(rollup.columns)}, sum(n)::bigint as n from (${sql.join(parts, sql` union all `)}) counted
      group by ${sql.raw(rollup.columns)} order by n desc, ${sql.raw(order)} limit ${limit}`)
    return [...rows] as Row[]
  }, settings)
}

export async function topPages(db: Database, tenantId: string, timezone: string, range: Range, limit: number) {
  // The sums are bigint (a range can pass 2^31 views), read as strings.
  const rows = await topOf<{ page: string; n: string }>(db, tenantId, timezone, range, { table: 'daily_pages', columns: 'page', count: 'views' },
    sql`select a.page from user_activities a where a.tenant_id = ${tenantId} and a.type = 'pageview' and a.page is not null`, limit, 'page collate "C"')
  return rows.map((r) => ({ page: r.page, views: Number(r.n) }))
}

/** Event names: an action's name, else the event type. */
export async function topEvents(db: Database, tenantId: string, timezone: string, range: Range, limit: number) {
  const rows = await topOf<{ name: string; type: string; n: string }>(db, tenantId, timezone, range, { table: 'daily_event_names', columns: 'name, type', count: 'events' },
    sql`select coalesce(a.action, a.type) as name, a.type from user_activities a where a.tenant_id = ${tenantId}`, limit, 'name collate "C", type collate "C"')
  return rows.map((r) => ({ name: r.name, type: r.type, count: Number(r.n) }))
}

/** Consecutive dates (YYYY-MM-DD, ascending) as [first, last] runs. */
export function runsOf(dates: string[]): Array<[string, string]> {
  const runs: Array<[string, string]> = []
  for (const date of dates) {
    const run = runs.at(-1)
    if (run && addDays(run[1], 1) === date) run[1] = date
    else runs.push([date, date])
  }
  return runs
}
