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
 *     (RECOMPUTE_DAYS_SQL, then CLEAR_DAILY_USERS_SQL and REBUILD_DAILY_USERS_SQL): for rows
 *     that did not come through a worker. Running it twice gives the same row.
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
 * Adds `source(tenant_id, date, type, action, page, <count>)` to daily_pages and
 * daily_event_names; `views` and `events` are what a row already there becomes (its old value
 * plus the new one, or the new one alone for a rebuild). The keys are md5 as uuid: a page may
 * be longer than a btree key can be.
 */
const ADD_NAMES_CTES = (source: string, count: string, views: string, events: string) => `pages_added as (
  insert into daily_pages as dp (tenant_id, date, page_key, page, views)
  select tenant_id, date, md5(page)::uuid, page, sum(${count}) from ${source} where type = 'pageview' and page is not null group by 1, 2, 4
  on conflict (tenant_id, date, page_key) do update set views = ${views}
),
names_added as (
  insert into daily_event_names as de (tenant_id, date, name_key, name, type, events)
  select tenant_id, date, md5(type || E'\\n' || coalesce(action, type))::uuid, coalesce(action, type), type, sum(${count}) from ${source} group by 1, 2, 4, 5
  on conflict (tenant_id, date, name_key) do update set events = ${events}
)`

/**
 * Takes the activity deltas ($1: one tenant's, or every tenant's when null), adds their
 * events and page views to the days' rows and sets their users' bits; likewise the name
 * deltas, into daily_pages, daily_event_names and named_events. Returns the (tenant_id, date)
 * pairs touched, whose active users ACTIVE_USERS_SQL then counts, and whether each is left
 * `unnamed` (named_events <> events: a worker from before migration 0011 wrote to it). Taken
 * and applied in one statement: the deltas are gone exactly when their counts are in, and a
 * batch's two kinds of delta move its day's events and named events together.
 */
export const APPLY_DELTAS_SQL = `
with taken as (
  delete from activity_deltas where $1::uuid is null or tenant_id = $1::uuid
  returning tenant_id, date, user_key, events, page_views
),
names_taken as (
  delete from activity_name_deltas where $1::uuid is null or tenant_id = $1::uuid
  returning tenant_id, date, type, action, page, events
),
${ADD_NAMES_CTES('names_taken', 'events', 'dp.views + excluded.views', 'de.events + excluded.events')},
-- One upsert per day for both kinds of delta (a row may change once per statement), so a
-- day's events and named events move together.
day_sums as (
  select tenant_id, date, sum(events) as events, sum(page_views) as page_views, 0::bigint as named from taken group by 1, 2
  union all
  select tenant_id, date, 0, 0, sum(events) from names_taken group by 1, 2
),
counted as (
  insert into platform_metrics as pm (tenant_id, date, events, page_views, named_events, updated_at)
  select tenant_id, date, sum(events), sum(page_views), sum(named), now() from day_sums group by 1, 2
  on conflict (tenant_id, date) do update set events = pm.events + excluded.events, page_views = pm.page_views + excluded.page_views,
    named_events = pm.named_events + excluded.named_events, updated_at = now()
  returning tenant_id, date, named_events <> events as unnamed
),

day_users as (select distinct tenant_id, date as day, user_key from taken),
${SET_USER_BITS_CTES}
select tenant_id::text as tenant_id, date::text as date, unnamed from counted
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
names_consumed as (delete from activity_name_deltas where tenant_id = $1 and date = any($3::date[])),
-- One scan of the days' rows, for the day's counts and its pages and names alike.
grouped as (
  select $1::uuid as tenant_id, b.day as date, a.type, a.action, case when a.type = 'pageview' then a.page end as page, count(*) as events
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
  group by 2, 3, 4, 5
),
activity as (
  select date as day, sum(events) as events, coalesce(sum(events) filter (where type = 'pageview'), 0) as page_views from grouped group by 1
),
${ADD_NAMES_CTES('grouped', 'events', 'excluded.views', 'excluded.events')},
${STARTED_CTE}
insert into platform_metrics as pm (tenant_id, date, sessions, avg_session_duration_seconds, ended_sessions, events, page_views, named_events, updated_at)
select $1, b.day, coalesce(s.sessions, 0), coalesce(s.avg_duration, 0), coalesce(s.ended_sessions, 0),
  coalesce(a.events, 0), coalesce(a.page_views, 0), coalesce(a.events, 0), now()
from bounds b left join activity a on a.day = b.day left join started s on s.day = b.day
on conflict (tenant_id, date) do update set
  sessions = excluded.sessions, avg_session_duration_seconds = excluded.avg_session_duration_seconds,
  ended_sessions = excluded.ended_sessions, events = excluded.events, page_views = excluded.page_views,
  named_events = excluded.named_events, updated_at = now()
`

/**
 * Before RECOMPUTE_DAYS_SQL, in the same transaction: the days' pages and names go, so a
 * page the raw rows no longer hold does not stay. $1 tenant id, $2 the days (date[]).
 */
export const CLEAR_DAILY_NAMES_SQL = `
with pages as (delete from daily_pages where tenant_id = $1 and date = any($2::date[]))
delete from daily_event_names where tenant_id = $1 and date = any($2::date[])
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
