import { sql } from 'drizzle-orm'
import type { Redis } from 'ioredis'
import { cleanupAndSync, markDaysForRecompute, migrationState, NAME_ROWS_PER_RUN, type Database, type MigrationState, type SyncOptions, type SyncResult } from '@tributary/db'
import { checkEviction, CONSUMER_GROUP, daysBetween, deadLetterKey, eachDay, fieldsToObject, groupPosition, isCalendarDate, streamKey } from '@tributary/shared'
import { UsageError } from '../config.ts'
import { findTenant } from './keys.ts'
import type { Output } from '../output.ts'

const ago = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`)

/** The configured shards, plus any stream found in Redis beyond them (after STREAM_SHARDS was lowered, say). */
export async function shards(redis: Redis, configured: number): Promise<number[]> {
  const found = new Set(Array.from({ length: configured }, (_, i) => i))
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'tributary:events:{*}', 'COUNT', 500)
    cursor = next
    for (const key of keys) found.add(Number(/\{(\d+)\}/.exec(key)?.[1]))
  } while (cursor !== '0')
  return [...found].filter(Number.isFinite).sort((a, b) => a - b)
}

/** `tributary status`'s schema line: where the database stands against this build's migrations. */
function schemaLine(schema: MigrationState | { error: string }): string {
  if ('error' in schema) return `schema: could not read the migrations (${schema.error})`
  const at = schema.applied.at(-1) ?? 'no migration'
  if (schema.pending.length > 0) return `schema: at ${at}; ${schema.pending.length} pending (${schema.pending.join(', ')}): run \`pnpm db:migrate\``
  if (schema.newer > 0) return `schema: ${schema.newer} migration${schema.newer === 1 ? '' : 's'} newer than this build's latest (${at}): a newer version migrated the database`
  return `schema: up to date at ${at}`
}

/** A query's rows, or why it failed: status shows what it can read (a schema behind this build lacks newer tables and columns). */
async function readOrWhy<T>(query: Promise<T>): Promise<{ rows: T } | { error: string }> {
  try {
    return { rows: await query }
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err
    return { error: cause instanceof Error ? cause.message : String(cause) }
  }
}

/**
 * Prints the state of streams, workers, schema, Redis and sync. Returns false when something
 * needs an operator (pending migrations or a schema it cannot read, a Redis that may evict,
 * a figure it could not read), which `tributary status` turns into exit code 1.
 */
export async function status(redis: Redis, db: Database, out: Output, configuredShards: number): Promise<boolean> {
  const now = Date.now()
  // Never fails the command: a CLI without the migrations folder still shows the rest.
  const schema = await migrationState(db.$client).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }))
  const eviction = await checkEviction(redis)
  const rows = []
  const consumers = new Map<string, { pending: number; idleMs: number }>()
  for (const shard of await shards(redis, configuredShards)) {
    const stream = streamKey(shard)
    const position = await groupPosition(redis, stream)
    const dlq = await redis.xlen(deadLetterKey(shard))
    const oldestMs = position.oldestPendingId ? now - Number(position.oldestPendingId.split('-')[0]) : 0
    rows.push({ shard, stream, length: position.length, undelivered: position.undelivered, pending: position.pending, oldestPendingAgeMs: oldestMs, deadLetters: dlq })
    const list = ((await redis.xinfo('CONSUMERS', stream, CONSUMER_GROUP).catch(() => [])) as unknown[][]).map(fieldsToObject)
    for (const c of list) {
      const seen = consumers.get(String(c.name)) ?? { pending: 0, idleMs: Number.MAX_SAFE_INTEGER }
      consumers.set(String(c.name), { pending: seen.pending + Number(c.pending), idleMs: Math.min(seen.idleMs, Number(c.idle)) })
    }
  }
  const syncs = await readOrWhy(db.execute<{ scope: string; last_run_at: Date | string; duration_ms: number; synced_days: number; sessions_closed: number }>(sql`select * from sync_runs where scope = 'all'`))
  const lastSync = 'rows' in syncs ? syncs.rows[0] : undefined
  // Past days whose top pages and events come from their stored rows: the build's backlog
  // after migration 0011 (NAME_ROWS_PER_RUN events a minute), days with late events until
  // their hourly rebuild, and days whose stored rows were deleted.
  const unbuilt = await readOrWhy(db.execute<{ days: number; events: string }>(sql`
    select count(*)::int as days, coalesce(sum(pm.events), 0)::text as events
    from platform_metrics pm join tenants tn on tn.id = pm.tenant_id
    where pm.named_events <> pm.events and pm.date < tributary_local_day(now(), tn.timezone)`))
  const namesBacklog = 'rows' in unbuilt ? { days: unbuilt.rows[0]?.days ?? 0, events: Number(unbuilt.rows[0]?.events ?? 0) } : null
  const unread = 'error' in syncs || 'error' in unbuilt
  const healthy = !('error' in schema) && schema.pending.length === 0 && eviction.problem === undefined && !unread
  // Why a figure is missing: most often a database not migrated to this build yet.
  const unreadable = (what: { error: string }) => `could not be read (${what.error})${'error' in schema || schema.pending.length === 0 ? '' : '; run `pnpm db:migrate` first'}`
  if (out.json) {
    out.data({
      streams: rows,
      consumers: [...consumers].map(([name, c]) => ({ name, ...c })),
      ...('error' in syncs || 'error' in unbuilt ? { unreadable: { ...('error' in syncs ? { lastSync: syncs.error } : {}), ...('error' in unbuilt ? { unbuiltTopListDays: unbuilt.error } : {}) } } : {}),
      healthy,
      lastSync: lastSync ? { at: new Date(lastSync.last_run_at).toISOString(), durationMs: lastSync.duration_ms, syncedDays: lastSync.synced_days, sessionsClosed: lastSync.sessions_closed } : null,
      unbuiltTopListDays: namesBacklog,
      schema,
      redisEvictionPolicy: eviction.policy ?? null,
    })
    return healthy
  }
  out.table(
    ['shard', 'length', 'undelivered', 'pending', 'oldest pending', 'dead letters'],
    rows.map((r) => [String(r.shard), String(r.length), String(r.undelivered), String(r.pending), r.pending ? ago(r.oldestPendingAgeMs) : '-', String(r.deadLetters)]),
  )
  out.line('')
  if (consumers.size === 0) out.line('workers seen: none yet (start one: pnpm start:worker)')
  else out.table(['worker', 'pending', 'last seen'], [...consumers].map(([name, c]) => [name, String(c.pending), `${ago(c.idleMs)} ago`]))
  out.line('')
  out.line(schemaLine(schema))
  out.line(eviction.problem ? `redis: ${eviction.problem}` : eviction.warning ? `redis: ${eviction.warning}` : `redis: maxmemory-policy ${eviction.policy}`)
  out.line('error' in syncs ? `last sync: ${unreadable(syncs)}` : lastSync ? `last sync: ${ago(now - new Date(lastSync.last_run_at).getTime())} ago, ${lastSync.synced_days} days synced, ${lastSync.sessions_closed} sessions closed, ${lastSync.duration_ms} ms` : 'last sync: never')
  out.line(
    namesBacklog === null
      ? `top pages and events: ${unreadable(unbuilt as { error: string })}`
      : namesBacklog.days === 0
      ? 'top pages and events: every past day built'
      : `top pages and events: ${namesBacklog.days} past days (${namesBacklog.events.toLocaleString('en-US')} events) read from their stored rows; the sync builds ${NAME_ROWS_PER_RUN.toLocaleString('en-US')} events' worth a minute, or run \`tributary recompute\``,
  )
  return healthy
}

/**
 * Cleanup-and-sync, waiting for a run in progress elsewhere (a worker's periodic run, a
 * POST /sync, another recompute), and saying so first: that wait can last as long as a
 * recompute of a year, and a command that prints nothing meanwhile looks hung.
 */
async function syncSayingWhy(db: Database, out: Output, options: Omit<SyncOptions, 'wait'>): Promise<SyncResult> {
  const first = await cleanupAndSync(db, { ...options, wait: false })
  if (first.ran) return first
  out.note('another cleanup-and-sync is running (a worker\'s periodic run, a POST /sync or a recompute): waiting for it to finish…')
  return cleanupAndSync(db, { ...options, wait: true })
}

export async function syncNow(db: Database, out: Output, sessionTimeoutMinutes: number, tenantRef?: string) {
  const tenantId = tenantRef ? (await findTenant(db, tenantRef)).id : undefined
  const result = await syncSayingWhy(db, out, { sessionTimeoutMinutes, ...(tenantId ? { tenantId } : {}) })
  if (result.namesError !== undefined) out.note(`top pages and events: ${result.namesError}; those days are read from their stored rows and tried again in an hour`)
  if (out.json) return out.data({ syncedDays: result.syncedDays, namedDays: result.namedDays, sessionsClosed: result.sessionsClosed, durationMs: result.durationMs })
  out.line(`synced ${result.syncedDays} days, closed ${result.sessionsClosed} sessions${result.namedDays > 0 ? `, built the top pages and events of ${result.namedDays} past days` : ''} in ${result.durationMs} ms`)
}

/**
 * Most days one `recompute` takes: the sync that rebuilds them holds the cleanup-and-sync
 * lock throughout (~12 s for a year of 10M events in the reads bench), and every other sync,
 * periodic or `POST /sync`, waits for it.
 */
const MAX_RECOMPUTE_DAYS = 366

/**
 * Rebuilds a tenant's daily figures for the days from `from` to `to` (its calendar days)
 * from the stored rows, then syncs the tenant so they are right when this returns. For rows
 * that did not come through a worker, whose deltas no sync ever saw: a restore, a repair, a
 * bulk load. Running it twice gives the same figures.
 */
export async function recompute(db: Database, out: Output, sessionTimeoutMinutes: number, tenantRef: string, from: string | undefined, to: string | undefined) {
  if (from === undefined || to === undefined) throw new UsageError('recompute needs --from and --to: the first and last day to rebuild, YYYY-MM-DD in the tenant\'s time zone')
  for (const [name, value] of [['--from', from], ['--to', to]] as const) {
    if (!isCalendarDate(value)) throw new UsageError(`${name} is a calendar date, YYYY-MM-DD; "${value}" is not`)
  }
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`)
  const days = daysBetween(from, to) + 1
  if (days > MAX_RECOMPUTE_DAYS) {
    throw new UsageError(`${days} days asked; one recompute takes at most ${MAX_RECOMPUTE_DAYS} (every other sync waits while it runs): split the range`)
  }
  const tenant = await findTenant(db, tenantRef)
  await markDaysForRecompute(db, tenant.id, eachDay(from, to))
  out.note(`${days} days of ${tenant.name} (${tenant.timezone}) marked for recompute, ${from} to ${to}; syncing the tenant…`)
  const result = await syncSayingWhy(db, out, { sessionTimeoutMinutes, tenantId: tenant.id })
  // A worker's transaction that was writing as the recompute began had not finished: its days stay marked for the next sync.
  if (!result.writersDone) out.note('a transaction that was writing as the recompute began had not finished: its days were marked again, and the next sync (within a minute) recomputes them')
  if (out.json) return out.data({ tenantId: tenant.id, from, to, days, syncedDays: result.syncedDays, sessionsClosed: result.sessionsClosed, durationMs: result.durationMs, complete: result.writersDone })
  out.line(`recomputed ${days} days from the stored rows${result.writersDone ? '' : ' (some to finish in the next sync, above)'}: synced ${result.syncedDays} days, closed ${result.sessionsClosed} sessions in ${result.durationMs} ms`)
}
