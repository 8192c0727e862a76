import { sql } from 'drizzle-orm'
import type { Database } from '@tributary/db'
import type { DecodedEntry } from '@tributary/shared'
import { column } from './pg-array.ts'
import { buildRows, sessionColumns } from './rows.ts'

export interface WriteResult {
  inserted: number
  sessions: number
}

/**
 * One transaction for a batch: activities inserted once per (tenant_id, event_id) whatever
 * the number of deliveries, sessions upserted so that the result does not depend on order
 * or repetition (earliest start, latest activity, earliest end, first known details), and
 * the (tenant, day) pairs whose daily metrics changed marked for cleanup-and-sync.
 * Each statement passes one array per column to UNNEST, so no batch nears the parameter limit.
 */
export async function writeBatch(db: Database, entries: DecodedEntry[], statementTimeoutMs: number): Promise<WriteResult> {
  const { activities: a, sessions } = buildRows(entries)
  const s = sessionColumns(sessions)
  return db.transaction(async (tx) => {
    await tx.execute(sql`set local statement_timeout = ${sql.raw(String(Math.floor(statementTimeoutMs)))}`)
    let inserted = 0
    if (a.eventId.length > 0) {
      const result = await tx.execute(sql`
        insert into user_activities (tenant_id, event_id, session_id, user_key, type, page, action, metadata, occurred_at, received_at)
        select * from unnest(
          ${column(a.tenantId, 'uuid')}, ${column(a.eventId, 'text')}, ${column(a.sessionId, 'text')}, ${column(a.userKey, 'text')},
          ${column(a.type, 'text')}, ${column(a.page, 'text')}, ${column(a.action, 'text')}, ${column(a.metadata, 'jsonb')},
          ${column(a.occurredAt, 'timestamptz')}, ${column(a.receivedAt, 'timestamptz')})
        on conflict (tenant_id, event_id) do nothing`)
      inserted = result.count
    }
    if (sessions.length > 0) {
      // The days to recompute are the start days before and after the merge: a session
      // whose start moves earlier leaves one day and joins another.
      await tx.execute(sql`
        with incoming as (
          select * from unnest(
            ${column(s.tenantId, 'uuid')}, ${column(s.id, 'text')}, ${column(s.userKey, 'text')}, ${column(s.userId, 'text')}, ${column(s.anonymousId, 'text')},
            ${column(s.startedAt, 'timestamptz')}, ${column(s.lastSeenAt, 'timestamptz')}, ${column(s.endedAt, 'timestamptz')},
            ${column(s.device, 'text')}, ${column(s.platform, 'text')}, ${column(s.browser, 'text')}, ${column(s.os, 'text')}, ${column(s.referrer, 'text')}
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
            ended_at = case when cur.ended_at is null then excluded.ended_at when excluded.ended_at is null then cur.ended_at else least(cur.ended_at, excluded.ended_at) end,
            is_active = cur.is_active and excluded.ended_at is null,
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
        insert into metrics_dirty_days (tenant_id, date)
        select distinct d.tenant_id, (d.started_at at time zone tn.timezone)::date
        from (select * from previous union all select * from merged) d join tenants tn on tn.id = d.tenant_id
        on conflict do nothing`)
    }
    if (a.eventId.length > 0) {
      await tx.execute(sql`
        insert into metrics_dirty_days (tenant_id, date)
        select distinct x.t, (x.o at time zone tn.timezone)::date
        from unnest(${column(a.tenantId, 'uuid')}, ${column(a.occurredAt, 'timestamptz')}) as x(t, o) join tenants tn on tn.id = x.t
        on conflict do nothing`)
    }
    return { inserted, sessions: sessions.length }
  })
}
