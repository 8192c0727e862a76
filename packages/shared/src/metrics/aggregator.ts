import { eachDay } from './calendar.ts'

/**
 * The metric definitions, in one place. For a tenant and a calendar day D in the tenant's
 * timezone:
 *   events                     activities that occurred on D
 *   pageViews                  activities of type 'pageview' on D
 *   activeUsers                distinct user keys (userId, else anonymousId) with an activity on D
 *   sessions                   sessions that started on D (session calls are not activities)
 *   avgSessionDurationSeconds  mean of ended_at − started_at over the sessions that started
 *                              on D and have ended (0 when none has)
 * Over a range, the totals are sums, except activeUsers (distinct over the whole range) and
 * the average duration (weighted by the ended sessions of each day).
 *
 * How platform_metrics keeps up (cleanup-and-sync, packages/db/src/metrics.ts):
 *   - events, pageViews and activeUsers follow activity_deltas, which each worker batch
 *     appends to in its own transaction: APPLY_DELTAS_SQL takes them, adds the counts, sets
 *     the users' bits in daily_user_bitmaps, and ACTIVE_USERS_SQL counts each touched day's
 *     bits. Its cost follows what was written since the last sync, not the size of the day.
 *   - sessions and the average duration are recomputed from user_sessions for the days the
 *     worker marked (SESSION_DAYS_SQL): sessions change after they are written (a later
 *     start, an end), so their figures cannot be added up as they come.
 *   - a day marked with recompute_activities is rebuilt whole from the raw tables
 *     (CLEAR_DAILY_NAMES_SQL, RECOMPUTE_DAYS_SQL, then CLEAR_DAILY_USERS_SQL and
 *     REBUILD_DAILY_USERS_SQL): for rows that did not come through a worker. Running it
 *     twice gives the same row.
 *   - the top pages and event names of past days (daily_pages, daily_event_names) are built
 *     from their raw rows when their events differ from named_events (UNNAMED_DAYS_SQL,
 *     REBUILD_NAMES_SQL); the reads take such days from the raw rows.
 */
/** Users per row of daily_user_bitmaps: bit(8192), 1 KB. */
export const USERS_PER_BITMAP = 8192

/**
 * The local days asked for, as instants: $2 timezone, $3 the days (date[]). D holds
 * [D 00:00, D+1 00:00) read in the time zone; tributary_local_day (migration 0007), which
 * dates the workers' deltas and session marks, follows the same definition.
 */
const BOUNDS_CTE = `bounds as (
  select d::date as day, (d::date::timestamp at time zone $2) as starts, ((d::date + 1)::timestamp at time zone $2) as ends
  from unnest($3::date[]) as d
)`

/** The session figures of the days in `bounds`, from user_sessions ($1 tenant id). */
const STARTED_CTE = `started as (
  select b.day, count(*)::int as sessions, (count(*) filter (where s.ended_at is not null))::int as ended_sessions,
    coalesce(avg(extract(epoch from s.ended_at - s.started_at)) filter (where s.ended_at is not null), 0)::float8 as avg_duration
  from bounds b join user_sessions s on s.tenant_id = $1 and s.started_at >= b.starts and s.started_at < b.ends
  group by b.day
)`

/**
 * Numbers the users of `day_users(tenant_id, day, user_key)` that have none yet (tenant_users;
 * the caller holds the cleanup-and-sync lock, so max + row_number is safe) and sets their
 * bits in the days' bitmaps, one row per tenant, day and chunk of user numbers. Setting a
 * bit twice changes nothing, so the same user may come from several sources.
 */
const SET_USER_BITS_CTES = `known as (
  select tu.tenant_id, tu.user_key, tu.user_number from tenant_users tu
  join (select distinct tenant_id, user_key from day_users) d on d.tenant_id = tu.tenant_id and d.user_key = tu.user_key
),
-- Each tenant's highest number, looked up once per tenant. Looked up once per new user (a
-- correlated subquery), each lookup walked back over the index entries this statement had
-- inserted so far (invisible to it, but there): quadratic. The reads bench's 367-day
-- rebuild of 10M events took 128.6 s with it, 12.5 s without.
bases as materialized (
  select d.tenant_id, coalesce((select max(t.user_number) from tenant_users t where t.tenant_id = d.tenant_id), -1) as base
  from (select distinct tenant_id from day_users) d
),
numbered as (
  insert into tenant_users (tenant_id, user_key, user_number)
  select n.tenant_id, n.user_key, b.base + row_number() over (partition by n.tenant_id order by n.user_key)
  from (select distinct d.tenant_id, d.user_key from day_users d left join known k using (tenant_id, user_key) where k.user_key is null) n
  join bases b using (tenant_id)
  returning tenant_id, user_key, user_number
),
numbers as (select tenant_id, user_key, user_number from known union all select tenant_id, user_key, user_number from numbered),
bits as (
  insert into daily_user_bitmaps as ub (tenant_id, date, chunk, users)
  select d.tenant_id, d.day, n.user_number / ${USERS_PER_BITMAP}, bit_or(set_bit(B'0'::bit(${USERS_PER_BITMAP}), n.user_number % ${USERS_PER_BITMAP}, 1))
  from day_users d join numbers n using (tenant_id, user_key)
  group by 1, 2, 3
  on conflict (tenant_id, date, chunk) do update set users = ub.users | excluded.users
)`

/** First half of rebuilding the days' user bitmaps from the raw rows: $1 tenant id, $2 the days (date[]). */
export const CLEAR_DAILY_USERS_SQL = `delete from daily_user_bitmaps where tenant_id = $1 and date = any($2::date[])`

/** Second half: the bits of every user with an activity on the days. $1 tenant id, $2 timezone, $3 the days (date[]). */
export const REBUILD_DAILY_USERS_SQL = `
with ${BOUNDS_CTE},
day_users as (
  select distinct $1::uuid as tenant_id, b.day, a.user_key
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
),
${SET_USER_BITS_CTES}
select 1
`

/**
 * The days' rows of user_activities grouped for their counts, pages and names, in one scan:
 * `grouped(tenant_id, date, type, action, page, events)`, the page kept for page views only
 * (the others' pages count nowhere). Needs BOUNDS_CTE; $1 tenant id.
 */
const GROUPED_CTE = `grouped as (
  select $1::uuid as tenant_id, b.day as date, a.type, a.action, case when a.type = 'pageview' then a.page end as page, count(*) as events
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
  group by 2, 3, 4, 5
)`

/**
 * A 128-bit key for text that may be longer than a btree key can hold: the first half of
 * its SHA-256, as a uuid (16 bytes; no one can make two pages share one, as they could
 * with md5).
 */
const keyOf = (bytes: string) => `encode(substring(sha256(${bytes}) from 1 for 16), 'hex')::uuid`

/**
 * Writes `grouped` into daily_pages and daily_event_names, whose rows for the days
 * CLEAR_DAILY_NAMES_SQL has removed first. Grouped by key, so a statement never writes one
 * key twice. A name's key covers its type too, joined by a zero byte, which no text holds.
 */
const ADD_NAMES_CTES = `pages_added as (
  insert into daily_pages (tenant_id, date, page_key, page, views)
  select tenant_id, date, k, min(page), sum(events)
  from (select tenant_id, date, ${keyOf("convert_to(page, 'UTF8')")} as k, page, events from grouped where type = 'pageview' and page is not null) p
  group by 1, 2, 3
),
names_added as (
  insert into daily_event_names (tenant_id, date, name_key, name, type, events)
  select tenant_id, date, k, min(name), min(type), sum(events)
  from (
    select tenant_id, date, ${keyOf("convert_to(type, 'UTF8') || '\\x00'::bytea || convert_to(coalesce(action, type), 'UTF8')")} as k, coalesce(action, type) as name, type, events
    from grouped
  ) n
  group by 1, 2, 3
)`

/**
 * Takes the activity deltas ($1: one tenant's, or every tenant's when null), adds their
 * events and page views to the days' rows and sets their users' bits. Returns the
 * (tenant_id, date) pairs touched, whose active users ACTIVE_USERS_SQL then counts. Taken and
 * applied in one statement: the deltas are gone exactly when their counts are in.
 */
export const APPLY_DELTAS_SQL = `
with taken as (
  delete from activity_deltas where $1::uuid is null or tenant_id = $1::uuid
  returning tenant_id, date, user_key, events, page_views
),
counted as (
  insert into platform_metrics as pm (tenant_id, date, events, page_views, updated_at)
  select tenant_id, date, sum(events), sum(page_views), now() from taken group by 1, 2
  on conflict (tenant_id, date) do update set events = pm.events + excluded.events, page_views = pm.page_views + excluded.page_views, updated_at = now()
  returning tenant_id, date
),
day_users as (select distinct tenant_id, date as day, user_key from taken),
${SET_USER_BITS_CTES}
select tenant_id::text as tenant_id, date::text as date from counted
`

/**
 * Active users of each (tenant, day) asked for, from its bitmaps, in one statement: $1 the
 * tenant ids (uuid[]) and $2 the days (date[]), paired by position.
 */
export const ACTIVE_USERS_SQL = `
update platform_metrics pm set active_users = coalesce((
  select sum(bit_count(ub.users)) from daily_user_bitmaps ub where ub.tenant_id = pm.tenant_id and ub.date = pm.date
), 0), updated_at = now()
from unnest($1::uuid[], $2::date[]) as asked(tenant_id, date)
where pm.tenant_id = asked.tenant_id and pm.date = asked.date
`

/**
 * The session figures of the days, from user_sessions: $1 tenant id, $2 timezone, $3 the
 * days (date[]). The activity figures are left as they are.
 */
export const SESSION_DAYS_SQL = `
with ${BOUNDS_CTE},
${STARTED_CTE}
insert into platform_metrics as pm (tenant_id, date, sessions, avg_session_duration_seconds, ended_sessions, updated_at)
select $1, b.day, coalesce(s.sessions, 0), coalesce(s.avg_duration, 0), coalesce(s.ended_sessions, 0), now()
from bounds b left join started s on s.day = b.day
on conflict (tenant_id, date) do update set
  sessions = excluded.sessions, avg_session_duration_seconds = excluded.avg_session_duration_seconds,
  ended_sessions = excluded.ended_sessions, updated_at = now()
`

/**
 * The days whole from the raw tables, but active users (ACTIVE_USERS_SQL counts them from
 * the bitmaps REBUILD_DAILY_USERS_SQL rebuilds): $1 tenant id, $2 timezone, $3 the days
 * (date[]). The same statement drops the days' pending activity deltas: it sees the rows of
 * exactly the batches whose deltas it sees (one snapshot), so each event is counted once,
 * by the recompute or, for a batch committed after it began, by the next APPLY_DELTAS_SQL.
 */
export const RECOMPUTE_DAYS_SQL = `
with ${BOUNDS_CTE},
consumed as (delete from activity_deltas where tenant_id = $1 and date = any($3::date[])),
${GROUPED_CTE},
activity as (
  select date as day, sum(events) as events, coalesce(sum(events) filter (where type = 'pageview'), 0) as page_views from grouped group by 1
),
${ADD_NAMES_CTES},
${STARTED_CTE}
insert into platform_metrics as pm (tenant_id, date, sessions, avg_session_duration_seconds, ended_sessions, events, page_views,
  named_events, names_built_events, names_built_at, updated_at)
select $1, b.day, coalesce(s.sessions, 0), coalesce(s.avg_duration, 0), coalesce(s.ended_sessions, 0),
  coalesce(a.events, 0), coalesce(a.page_views, 0), coalesce(a.events, 0), coalesce(a.events, 0), now(), now()
from bounds b left join activity a on a.day = b.day left join started s on s.day = b.day
on conflict (tenant_id, date) do update set
  sessions = excluded.sessions, avg_session_duration_seconds = excluded.avg_session_duration_seconds,
  ended_sessions = excluded.ended_sessions, events = excluded.events, page_views = excluded.page_views,
  named_events = excluded.named_events, names_built_events = excluded.names_built_events, names_built_at = excluded.names_built_at, updated_at = now()
`

/**
 * Before RECOMPUTE_DAYS_SQL, in the same transaction: the days' pages and names go, so a
 * page the raw rows no longer hold does not stay. $1 tenant id, $2 the days (date[]).
 */
export const CLEAR_DAILY_NAMES_SQL = `
with pages as (delete from daily_pages where tenant_id = $1 and date = any($2::date[]))
delete from daily_event_names where tenant_id = $1 and date = any($2::date[])
`

/**
 * The days' pages and names from their raw rows, after CLEAR_DAILY_NAMES_SQL: $1 tenant id,
 * $2 timezone, $3 the days (date[]). named_events becomes the rows counted, and
 * names_built_events the day's events then; the day's other figures are left as they are,
 * so a day whose raw rows were deleted keeps its counts, and its top lists are what its raw
 * rows give, as before.
 */
export const REBUILD_NAMES_SQL = `
with ${BOUNDS_CTE},
${GROUPED_CTE},
${ADD_NAMES_CTES}
update platform_metrics pm set named_events = c.events, names_built_events = pm.events, names_built_at = now()
from (select b.day, coalesce(sum(g.events), 0) as events from bounds b left join grouped g on g.date = b.day group by 1) c
where pm.tenant_id = $1 and pm.date = c.day
`

/**
 * Days whose pages and names to build (REBUILD_NAMES_SQL): counted events they do not hold;
 * over (before the tenant's today: today's rows keep coming, and one day of raw rows is
 * quick to read); never built, or counted more events since and not built in the last hour,
 * so a day that keeps getting late events is rebuilt hourly, and one whose raw rows were
 * deleted is not rescanned for nothing (a failed build is retried hourly: it sets only
 * names_built_at). The latest first, at most 5,000 (many small tenants' days); the caller
 * takes them up to a budget of rows. $1: one tenant, or every tenant when null.
 */
export const UNNAMED_DAYS_SQL = `
with today as (
  select id, timezone, tributary_local_day(now(), timezone) as day from tenants where $1::uuid is null or id = $1::uuid
)
select pm.tenant_id::text as tenant_id, pm.date::text as date, t.timezone, pm.events
from platform_metrics pm join today t on t.id = pm.tenant_id
where pm.named_events <> pm.events and pm.date < t.day
  and (pm.names_built_at is null or (pm.events <> pm.names_built_events and pm.names_built_at < now() - interval '1 hour'))
order by pm.date desc, pm.tenant_id limit 5000
`

export interface DayMetrics {
  date: string
  activeUsers: number
  sessions: number
  avgSessionDurationSeconds: number
  events: number
  pageViews: number
}

export interface StoredDay extends DayMetrics {
  endedSessions: number
}

export interface Totals {
  activeUsers: number
  sessions: number
  avgSessionDurationSeconds: number
  events: number
  pageViews: number
}

/** One entry per day from `from` to `to`, ascending, zeros where nothing was stored. */
export function zeroFill(from: string, to: string, stored: StoredDay[]): StoredDay[] {
  const byDate = new Map(stored.map((d) => [d.date, d]))
  return eachDay(from, to).map((date) => byDate.get(date) ?? { date, activeUsers: 0, sessions: 0, avgSessionDurationSeconds: 0, events: 0, pageViews: 0, endedSessions: 0 })
}

/** Totals over days; `distinctActiveUsers` comes from the days' user bitmaps (a sum would count a user once per day). */
export function totalsOf(days: StoredDay[], distinctActiveUsers: number): Totals {
  let sessions = 0
  let events = 0
  let pageViews = 0
  let ended = 0
  let durationSum = 0
  for (const d of days) {
    sessions += d.sessions
    events += d.events
    pageViews += d.pageViews
    ended += d.endedSessions
    durationSum += d.avgSessionDurationSeconds * d.endedSessions
  }
  return { activeUsers: distinctActiveUsers, sessions, avgSessionDurationSeconds: ended === 0 ? 0 : durationSum / ended, events, pageViews }
}

export function publicDay({ date, activeUsers, sessions, avgSessionDurationSeconds, events, pageViews }: StoredDay): DayMetrics {
  return { date, activeUsers, sessions, avgSessionDurationSeconds, events, pageViews }
}
