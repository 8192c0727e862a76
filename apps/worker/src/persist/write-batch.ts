import type { TransactionSql } from 'postgres'
import type { Database } from '@tributary/db'
import type { DecodedEntry } from '@tributary/shared'
import { errorCode, UnwritableEntries } from './errors.ts'
import { textArray } from './pg-array.ts'
import { ACTIVITY_COLUMNS, buildRows, sessionColumns, type ActivityGroups, type ActivityRows, type SessionFacts } from './rows.ts'

export interface WriteResult {
  inserted: number
  sessions: number
  /**
   * `copy`: the events went straight into user_activities with COPY. `merge`: some were
   * stored already (a redelivery), so only the others were copied.
   */
  path: 'copy' | 'merge'
}

const UNIQUE_VIOLATION = '23505'
const FOREIGN_KEY_VIOLATION = '23503'

/**
 * One transaction for a batch: activities inserted once per (tenant_id, event_id) whatever
 * the number of deliveries, sessions upserted so that the result does not depend on order
 * or repetition (earliest start, latest activity, earliest end, first known details), what
 * the inserted activities add to the daily metrics appended to activity_deltas (so counted
 * exactly once: with the rows, or not at all), and the start days of the sessions marked for
 * cleanup-and-sync.
 *
 * Activities go in with COPY, the fastest way into Postgres (and the ceiling `pnpm bench`
 * measures against). COPY has no ON CONFLICT, so a batch holding an event that is already
 * stored fails as a whole with a unique violation and is written again as a merge: look up
 * which of its events are stored, copy the others, and upsert only the sessions those (and
 * the batch's session entries) make: a stored event's facts went in with it. That only happens after redeliveries (a
 * worker that died before acknowledging, a client resending after the de-duplication
 * window), so nearly every batch takes the fast path. A merge can meet a unique violation
 * too, when another worker commits one of the same events between the lookup and the
 * copy (two workers on one redelivered entry); it is tried again, and after MERGE_ATTEMPTS
 * the error goes to the worker, which retries the batch (23505 is transient there).
 * The merge needs nothing beyond the INSERT and SELECT the fast path uses — no temporary
 * table, so no TEMP privilege.
 *
 * Drizzle has no COPY, so this file speaks to postgres.js (the client under Drizzle)
 * directly; Drizzle still owns the schema, the migrations and every other query.
 */
export async function writeBatch(db: Database, entries: DecodedEntry[], statementTimeoutMs: number): Promise<WriteResult> {
  // Everything made from the entries before any statement: a failure here is the entries'.
  let rows: BatchRows
  try {
    rows = batchRows(entries)
  } catch (err) {
    throw new UnwritableEntries(err)
  }
  try {
    return await writeRows(db, entries, rows, statementTimeoutMs, 'copy')
  } catch (err) {
    if (errorCode(err) !== UNIQUE_VIOLATION) throw err
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeRows(db, entries, rows, statementTimeoutMs, 'merge')
    } catch (err) {
      if (errorCode(err) !== UNIQUE_VIOLATION || attempt >= MERGE_ATTEMPTS) throw err
    }
  }
}

const MERGE_ATTEMPTS = 3

interface BatchRows {
  activities: ActivityRows
  /** upsertSessions's parameters (sessionParameters), undefined when the batch touches none. */
  sessions: string[] | undefined
  sessionCount: number
}

/** The rows of the entries, leaving out the events `isStored` names (and what they would add to their sessions). */
function batchRows(entries: DecodedEntry[], isStored?: (tenantId: string, eventId: string) => boolean): BatchRows {
  const { activities, sessions } = buildRows(entries, isStored)
  return { activities, sessions: sessions.length > 0 ? sessionParameters(sessions) : undefined, sessionCount: sessions.length }
}

async function writeRows(db: Database, entries: DecodedEntry[], built: BatchRows, statementTimeoutMs: number, path: WriteResult['path']): Promise<WriteResult> {
  return db.$client.begin(async (tx) => {
    await tx.unsafe(`set local statement_timeout = ${Math.floor(statementTimeoutMs)}`)
    await lockTenants(tx, built.activities.tenantIds)
    const { activities, sessions, sessionCount } = path === 'copy' ? built : await unstoredRows(tx, entries, built.activities)
    if (activities.count > 0) {
      await copyIn(tx, `copy user_activities (${ACTIVITY_COLUMNS}) from stdin`, activities.copyData)
      await appendDeltas(tx, activities.groups)
    }
    if (sessions) await upsertSessions(tx, sessions)
    return { inserted: activities.count, sessions: sessionCount, path }
  })
}

/**
 * What the copied rows add to each (tenant, local day, user), for cleanup-and-sync to add
 * up. The tenant's time zone turns each second into its local day here, in the same
 * transaction that locked the tenant, by the same definition of a local day as a rebuild
 * from the raw rows (tributary_local_day, migration 0007).
 */
async function appendDeltas(tx: TransactionSql, groups: ActivityGroups): Promise<void> {
  await tx.unsafe(
    `insert into activity_deltas (tenant_id, date, user_key, events, page_views)
     select x.t, tributary_local_day(to_timestamp(x.s), tn.timezone), x.u, sum(x.n)::int, coalesce(sum(x.n) filter (where x.p), 0)::int
     from unnest($1::uuid[], $2::bigint[], $3::text[], $4::bool[], $5::int[]) as x(t, s, u, p, n) join tenants tn on tn.id = x.t
     group by 1, 2, 3`,
    [textArray(groups.tenantId), textArray(groups.second.map(String)), textArray(groups.userKey), textArray(groups.pageView.map(String)), textArray(groups.events.map(String))],
  )
}

/**
 * What the foreign key from user_activities to tenants did row by row (and what cost ~45 %
 * of Postgres's CPU in the COPY), once per batch: locks the batch's tenants against deletion
 * until the batch commits (FOR KEY SHARE, the key check's lock) and refuses the batch when
 * one is gone, with the key check's SQLSTATE, so a deleted tenant's events take the same
 * way as before: a permanent error, bisected down to those events, dead-lettered.
 */
async function lockTenants(tx: TransactionSql, tenantIds: string[]): Promise<void> {
  if (tenantIds.length === 0) return
  const ids = textArray([...new Set(tenantIds)])
  const [row] = await tx.unsafe<{ missing: string[] }[]>(
    `with locked as materialized (select id from tenants where id = any($1::uuid[]) for key share)
     select array(select x::text from unnest($1::uuid[]) x where x not in (select id from locked)) as missing`,
    [ids],
  )
  if (row && row.missing.length > 0) {
    throw Object.assign(new Error(`tenant ${row.missing.join(', ')} does not exist (deleted?); its events cannot be stored`), { code: FOREIGN_KEY_VIOLATION })
  }
}

/**
 * The rows of the events not stored yet, what they add to the daily metrics, and the
 * sessions as those events and the session entries make them: built again from the entries
 * without the stored events.
 */
async function unstoredRows(tx: TransactionSql, entries: DecodedEntry[], activities: ActivityRows): Promise<BatchRows> {
  // Positions (1-based), so that no key has to be compared as text on this side.
  const stored = await tx.unsafe<{ n: string }[]>(
    `select x.n from unnest($1::uuid[], $2::text[]) with ordinality as x(t, e, n)
     join user_activities a on a.tenant_id = x.t and a.event_id = x.e`,
    [textArray(activities.tenantIds), textArray(activities.eventIds)],
  )
  const storedKeys = new Set(stored.map((r) => `${activities.tenantIds[Number(r.n) - 1]}\n${activities.eventIds[Number(r.n) - 1]}`))
  return batchRows(entries, (tenantId, eventId) => storedKeys.has(`${tenantId}\n${eventId}`))
}

/** Streams COPY data into a COPY … FROM STDIN statement; settles once Postgres has answered. */
async function copyIn(tx: TransactionSql, statement: string, data: Buffer): Promise<void> {
  const writable = await tx.unsafe(statement).writable()
  await new Promise<void>((resolve, reject) => {
    writable.once('error', reject)
    writable.once('finish', resolve)
    writable.end(data)
  })
}

/** The sessions as upsertSessions's 13 array parameters, in its order. */
function sessionParameters(sessions: SessionFacts[]): string[] {
  const s = sessionColumns(sessions)
  return [
    textArray(s.tenantId), textArray(s.id), textArray(s.userKey), textArray(s.userId), textArray(s.anonymousId),
    textArray(s.startedAt), textArray(s.lastSeenAt), textArray(s.endedAt),
    textArray(s.device), textArray(s.platform), textArray(s.browser), textArray(s.os), textArray(s.referrer),
  ]
}

/**
 * The days whose session columns to recompute are the start days before and after the
 * merge: a session whose start moves earlier leaves one day and joins another.
 */
async function upsertSessions(tx: TransactionSql, parameters: string[]) {
  await tx.unsafe(
    `with incoming as (
      select * from unnest(
        $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
        $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]
      ) as x(t, i, uk, ui, ai, st, ls, en, dv, pf, br, os, rf)
    ),
    previous as (
      select cur.tenant_id, cur.started_at from user_sessions cur join incoming on cur.tenant_id = incoming.t and cur.id = incoming.i
    ),
    merged as (
      insert into user_sessions as cur (tenant_id, id, user_key, user_id, anonymous_id, started_at, last_seen_at, ended_at, is_active, device, platform, browser, os, referrer)
      select t, i, uk, ui, ai, st, ls, en, en is null, dv, pf, br, os, rf from incoming
      -- Sorted by key so that concurrent writers lock the same rows in the same order.
      order by t, i
      on conflict (tenant_id, id) do update set
        started_at = least(cur.started_at, excluded.started_at),
        last_seen_at = greatest(cur.last_seen_at, excluded.last_seen_at),
        -- A timeout's end is provisional (timed_out, and still at the last activity the close
        -- saw: a worker from before 0010 may have moved either): an explicit end replaces it,
        -- and an activity later than the close saw reopens the session for the next close to
        -- end at its new last activity, as if the activity had arrived before the close.
        ended_at = case
          when cur.timed_out and cur.ended_at = cur.last_seen_at then case when excluded.ended_at is not null then excluded.ended_at when excluded.last_seen_at > cur.last_seen_at then null else cur.ended_at end
          when cur.ended_at is null then excluded.ended_at when excluded.ended_at is null then cur.ended_at else least(cur.ended_at, excluded.ended_at) end,
        is_active = case
          when cur.timed_out and cur.ended_at = cur.last_seen_at then excluded.ended_at is null and excluded.last_seen_at > cur.last_seen_at
          else cur.is_active and excluded.ended_at is null end,
        timed_out = cur.timed_out and cur.ended_at = cur.last_seen_at and excluded.ended_at is null and excluded.last_seen_at <= cur.last_seen_at,
        user_id = coalesce(cur.user_id, excluded.user_id),
        anonymous_id = coalesce(cur.anonymous_id, excluded.anonymous_id),
        device = coalesce(cur.device, excluded.device),
        platform = coalesce(cur.platform, excluded.platform),
        browser = coalesce(cur.browser, excluded.browser),
        os = coalesce(cur.os, excluded.os),
        referrer = coalesce(cur.referrer, excluded.referrer),
        updated_at = now()
      returning tenant_id, started_at
    )
    insert into metrics_dirty_days (tenant_id, date, recompute_activities)
    select distinct d.tenant_id, tributary_local_day(d.started_at, tn.timezone), false
    from (select * from previous union all select * from merged) d join tenants tn on tn.id = d.tenant_id
    on conflict do nothing`,
    parameters,
  )
}
