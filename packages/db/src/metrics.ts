import { sql, type SQL } from 'drizzle-orm'
import { addDays, CLEAR_DAILY_USERS_SQL, REBUILD_DAILY_USERS_SQL, RECOMPUTE_DAYS_SQL, totalsOf, zeroFill, publicDay, type StoredDay } from '@tributary/shared'
import type { Database } from './client.ts'

/** Turns `$1`-style placeholders into Drizzle parameters (each occurrence its own). */
function bind(text: string, values: unknown[]): SQL {
  const parts = text.split(/\$(\d+)/)
  const chunks: SQL[] = []
  parts.forEach((part, i) => chunks.push(i % 2 === 0 ? sql.raw(part) : sql`${values[Number(part) - 1]}`))
  return sql.join(chunks)
}

/** A Postgres array literal of plain dates (YYYY-MM-DD, so nothing to escape). */
const dateArray = (dates: string[]) => `{${dates.join(',')}}`

export interface SyncResult {
  /** false when another replica held the lock as this run began (periodic runs do not wait for it then). */
  ran: boolean
  syncedDays: number
  sessionsClosed: number
  durationMs: number
}

export interface SyncOptions {
  sessionTimeoutMinutes: number
  /** Only this tenant (POST /sync); every tenant otherwise. */
  tenantId?: string
  /** Wait for a run in progress elsewhere instead of skipping. */
  wait: boolean
}

/**
 * Cleanup-and-sync, in two transactions, each under a transaction-scoped advisory lock — so
 * one runs at a time across all replicas, and a replica that dies mid-run releases it with
 * its connection:
 *   1. (short) close sessions idle past the timeout (inactive, ended_at = last_seen_at),
 *      marking their start days dirty; then take the dirty (tenant, day) pairs — days
 *      touched by the worker since the last run, late and back-dated events included — by
 *      moving them to metrics_syncing_days, and commit. Workers marking those days again
 *      meanwhile add fresh dirty rows without waiting on anything.
 *   2. recompute every taken day from the raw tables (RECOMPUTE_DAYS_SQL, an idempotent
 *      upsert; then the user bitmaps) and remove it from metrics_syncing_days. Days a
 *      failed or killed run left there are recomputed by the next.
 * A worker that marks a day before step 1 takes it but commits after the recompute read
 * the raw rows (its mark found the row there, so it added nothing) leaves its events out
 * until that day is marked again — at once for today, never for a back-dated day. The
 * single-transaction sync had the same window; closing it means waiting, before the
 * recompute, for the transactions still running when step 1 committed.
 */
export async function cleanupAndSync(db: Database, options: SyncOptions): Promise<SyncResult> {
  const started = performance.now()
  const tenantFilter = options.tenantId ? sql`and tenant_id = ${options.tenantId}` : sql``
  const lock = async (tx: Parameters<Parameters<Database['transaction']>[0]>[0], wait: boolean) => {
    if (wait) {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`)
      return true
    }
    const [row] = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(hashtext('tributary:cleanup-and-sync')) as locked`)
    return row?.locked === true
  }
  const sessionsClosed = await db.transaction(async (tx) => {
    if (!(await lock(tx, options.wait))) return undefined
    const [closed] = await tx.execute<{ closed: number }>(sql`
      with closed as (
        update user_sessions set is_active = false, ended_at = last_seen_at, updated_at = now()
        where is_active and ended_at is null and last_seen_at < now() - make_interval(mins => ${options.sessionTimeoutMinutes}) ${tenantFilter}
        returning tenant_id, started_at
      ),
      marked as (
        insert into metrics_dirty_days (tenant_id, date)
        select distinct c.tenant_id, (c.started_at at time zone tn.timezone)::date from closed c join tenants tn on tn.id = c.tenant_id
        on conflict do nothing
      )
      select count(*)::int as closed from closed`)
    // A second statement: it sees the days the first one marked.
    await tx.execute(sql`
      with taken as (delete from metrics_dirty_days where true ${tenantFilter} returning tenant_id, date)
      insert into metrics_syncing_days (tenant_id, date) select tenant_id, date from taken on conflict do nothing`)
    return closed?.closed ?? 0
  })
  if (sessionsClosed === undefined) return { ran: false, syncedDays: 0, sessionsClosed: 0, durationMs: Math.round(performance.now() - started) }
  return db.transaction(async (tx) => {
    // Waits at most for another replica's recompute; that one may have taken our days already.
    await lock(tx, true)
    const syncing = await tx.execute<{ tenant_id: string; date: string; timezone: string }>(sql`
      select s.tenant_id, s.date::text as date, tn.timezone from metrics_syncing_days s join tenants tn on tn.id = s.tenant_id
      where true ${options.tenantId ? sql`and s.tenant_id = ${options.tenantId}` : sql``} order by 1, 2`)
    const byTenant = new Map<string, { timezone: string; dates: string[] }>()
    for (const row of syncing) {
      const entry = byTenant.get(row.tenant_id) ?? { timezone: row.timezone, dates: [] }
      entry.dates.push(row.date)
      byTenant.set(row.tenant_id, entry)
    }
    for (const [tenantId, { timezone, dates }] of byTenant) {
      await tx.execute(bind(RECOMPUTE_DAYS_SQL, [tenantId, timezone, dateArray(dates)]))
      await tx.execute(bind(CLEAR_DAILY_USERS_SQL, [tenantId, dateArray(dates)]))
      await tx.execute(bind(REBUILD_DAILY_USERS_SQL, [tenantId, timezone, dateArray(dates)]))
      await tx.execute(sql`delete from metrics_syncing_days where tenant_id = ${tenantId} and date = any(${dateArray(dates)}::date[])`)
    }
    const result = { ran: true, syncedDays: syncing.length, sessionsClosed, durationMs: Math.round(performance.now() - started) }
    await tx.execute(sql`
      insert into sync_runs (scope, last_run_at, duration_ms, synced_days, sessions_closed)
      values (${options.tenantId ?? 'all'}, now(), ${result.durationMs}, ${result.syncedDays}, ${result.sessionsClosed})
      on conflict (scope) do update set last_run_at = excluded.last_run_at, duration_ms = excluded.duration_ms,
        synced_days = excluded.synced_days, sessions_closed = excluded.sessions_closed`)
    return result
  })
}

export interface Range {
  from: string
  to: string
}

/** Daily metrics over a range (zero-filled, ascending) and the totals. */
export async function historical(db: Database, tenantId: string, timezone: string, range: Range) {
  const rows = await db.execute<{ date: string; active_users: number; sessions: number; avg: number; ended: number; events: number; page_views: number }>(sql`
    select date::text as date, active_users, sessions, avg_session_duration_seconds as avg, ended_sessions as ended, events, page_views
    from platform_metrics where tenant_id = ${tenantId} and date between ${range.from}::date and ${range.to}::date`)
  const [distinct] = await db.execute<{ users: number }>(sql`
    select coalesce(sum(bit_count(u)), 0)::int as users from (
      select bit_or(users) as u from daily_user_bitmaps
      where tenant_id = ${tenantId} and date between ${range.from}::date and ${range.to}::date
      group by chunk) chunks`)
  const stored: StoredDay[] = rows.map((r) => ({ date: r.date, activeUsers: r.active_users, sessions: r.sessions, avgSessionDurationSeconds: r.avg, endedSessions: r.ended, events: r.events, pageViews: r.page_views }))
  const days = zeroFill(range.from, range.to, stored)
  return { days: days.map(publicDay), totals: totalsOf(days, distinct?.users ?? 0) }
}

function rangeSql(tenantId: string, timezone: string, range: Range) {
  return sql`tenant_id = ${tenantId}
    and occurred_at >= (${range.from}::date::timestamp at time zone ${timezone})
    and occurred_at < (${addDays(range.to, 1)}::date::timestamp at time zone ${timezone})`
}

export async function topPages(db: Database, tenantId: string, timezone: string, range: Range, limit: number) {
  const rows = await db.execute<{ page: string; views: number }>(sql`
    select page, count(*)::int as views from user_activities
    where ${rangeSql(tenantId, timezone, range)} and type = 'pageview' and page is not null
    group by page order by views desc, page limit ${limit}`)
  return rows.map((r) => ({ page: r.page, views: r.views }))
}

/** Event names: an action's name, else the event type. */
export async function topEvents(db: Database, tenantId: string, timezone: string, range: Range, limit: number) {
  const rows = await db.execute<{ name: string; type: string; count: number }>(sql`
    select coalesce(action, type) as name, type, count(*)::int as count from user_activities
    where ${rangeSql(tenantId, timezone, range)}
    group by 1, 2 order by count desc, name limit ${limit}`)
  return rows.map((r) => ({ name: r.name, type: r.type, count: r.count }))
}
