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
 * RECOMPUTE_DAYS_SQL computes D's row from the raw tables and upserts it, for a list of
 * days of one tenant: $1 tenant id, $2 timezone, $3 the days (date[]). Its cost follows the
 * days asked for (index ranges on (tenant_id, occurred_at) and (tenant_id, started_at)),
 * and running it twice gives the same row. CLEAR_DAILY_USERS_SQL then REBUILD_DAILY_USERS_SQL
 * rebuild the days' user bitmaps, from which distinct users over a range are counted.
 */
/** Users per row of daily_user_bitmaps: bit(8192), 1 KB. */
export const USERS_PER_BITMAP = 8192

/** First half of rebuilding the days' user bitmaps: $1 tenant id, $2 the days (date[]). */
export const CLEAR_DAILY_USERS_SQL = `delete from daily_user_bitmaps where tenant_id = $1 and date = any($2::date[])`

/**
 * Second half: numbers the users first seen on these days (tenant_users; the caller holds
 * the cleanup-and-sync lock, so max + row_number is safe) and writes one bitmap per day and
 * chunk of user numbers. $1 tenant id, $2 timezone, $3 the days (date[]).
 */
export const REBUILD_DAILY_USERS_SQL = `
with bounds as (
  select d::date as day, (d::date::timestamp at time zone $2) as starts, ((d::date + 1)::timestamp at time zone $2) as ends
  from unnest($3::date[]) as d
),
day_users as (
  select distinct b.day, a.user_key
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
),
known as (
  select tu.user_key, tu.user_number from tenant_users tu
  where tu.tenant_id = $1 and tu.user_key in (select user_key from day_users)
),
numbered as (
  insert into tenant_users (tenant_id, user_key, user_number)
  select $1, n.user_key, (select coalesce(max(user_number), -1) from tenant_users where tenant_id = $1) + row_number() over (order by n.user_key)
  from (select distinct d.user_key from day_users d left join known k using (user_key) where k.user_key is null) n
  returning user_key, user_number
),
numbers as (select user_key, user_number from known union all select user_key, user_number from numbered)
insert into daily_user_bitmaps (tenant_id, date, chunk, users)
select $1, d.day, n.user_number / ${USERS_PER_BITMAP}, bit_or(set_bit(B'0'::bit(${USERS_PER_BITMAP}), n.user_number % ${USERS_PER_BITMAP}, 1))
from day_users d join numbers n using (user_key)
group by d.day, n.user_number / ${USERS_PER_BITMAP}
`
export const RECOMPUTE_DAYS_SQL = `
with bounds as (
  select d::date as day, (d::date::timestamp at time zone $2) as starts, ((d::date + 1)::timestamp at time zone $2) as ends
  from unnest($3::date[]) as d
),
activity as (
  select b.day, count(*)::int as events, (count(*) filter (where a.type = 'pageview'))::int as page_views, count(distinct a.user_key)::int as active_users
  from bounds b join user_activities a on a.tenant_id = $1 and a.occurred_at >= b.starts and a.occurred_at < b.ends
  group by b.day
),
started as (
  select b.day, count(*)::int as sessions, (count(*) filter (where s.ended_at is not null))::int as ended_sessions,
    coalesce(avg(extract(epoch from s.ended_at - s.started_at)) filter (where s.ended_at is not null), 0)::float8 as avg_duration
  from bounds b join user_sessions s on s.tenant_id = $1 and s.started_at >= b.starts and s.started_at < b.ends
  group by b.day
)
insert into platform_metrics as pm (tenant_id, date, active_users, sessions, avg_session_duration_seconds, ended_sessions, events, page_views, updated_at)
select $1, b.day, coalesce(a.active_users, 0), coalesce(s.sessions, 0), coalesce(s.avg_duration, 0), coalesce(s.ended_sessions, 0),
  coalesce(a.events, 0), coalesce(a.page_views, 0), now()
from bounds b left join activity a on a.day = b.day left join started s on s.day = b.day
on conflict (tenant_id, date) do update set
  active_users = excluded.active_users, sessions = excluded.sessions, avg_session_duration_seconds = excluded.avg_session_duration_seconds,
  ended_sessions = excluded.ended_sessions, events = excluded.events, page_views = excluded.page_views, updated_at = now()
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
