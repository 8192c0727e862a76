import t from 'tap'
import { dateIn } from '@tributary/shared'
import { cleanupAndSync, createTenant, historical, markDaysForRecompute, topEvents, topPages, type SyncOptions } from '../src/index.ts'
import { runsOf } from '../src/metrics.ts'
import { testDatabase } from '../src/testing.ts'

type Sql = Awaited<ReturnType<typeof testDatabase>>['sql']
type Db = Parameters<typeof cleanupAndSync>[0]

/**
 * Rows as a worker writes them: `count` page views of `page` at local `time` on `date` in
 * `zone`, one per user key, with the activity deltas that go with them.
 */
async function pageViews(sql: Sql, tenantId: string, date: string, page: string, count: number, time = '12:00', zone = 'UTC') {
  const prefix = `${date}${time}${page}#`
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, occurred_at, received_at)
    select ${tenantId}, ${prefix} || n, 'u' || n, 'pageview', ${page}, (${date}::date + ${time}::time) at time zone ${zone}, now() from generate_series(1, ${count}) n`
  await sql`insert into activity_deltas (tenant_id, date, user_key, events, page_views) values (${tenantId}, ${date}::date, 'u1', ${count}, ${count})`
}

/** A fixed-offset zone where it is about noon now, so that its today does not end during the test. */
function zoneAtNoon(): string {
  const offset = 12 - new Date().getUTCHours() // -11 … 12
  return offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}` // Etc/GMT-3 is UTC+3
}

const sync = (db: Db, options: Partial<SyncOptions> = {}) => cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true, ...options })

async function unnamedDays(sql: Sql) {
  return (await sql`select date::text as date from platform_metrics where named_events <> events order by 1`).map((r) => r.date as string)
}

t.test('past days are read from their daily pages once built; today, a day with late rows and a day not synced yet are read from their raw rows', async (t) => {
  const { db, sql } = await testDatabase(t)
  const zone = zoneAtNoon()
  const tenant = await createTenant(db, 'pages', zone)
  const today = dateIn(zone, Date.now())
  const range = { from: '2026-11-01', to: today }
  const views = (date: string, page: string, count: number, time?: string) => pageViews(sql, tenant.tenantId, date, page, count, time, zone)
  await views('2026-11-01', '/a', 3)
  await views('2026-11-02', '/b', 2)
  await views(today, '/today', 1, '00:00')
  const all = [{ page: '/a', views: 3 }, { page: '/b', views: 2 }, { page: '/today', views: 1 }]
  t.same(await topPages(db, tenant.tenantId, zone, range, 10), all, 'before any sync, from the raw rows')

  t.match(await sync(db), { syncedDays: 3, namedDays: 2 }, 'the two past days built')
  t.same(await unnamedDays(sql), [today], 'today is not built: its rows keep coming')
  t.same((await sql`select date::text as date, page, views::int as views from daily_pages order by 1`).map((r) => [r.date, r.page, r.views]), [['2026-11-01', '/a', 3], ['2026-11-02', '/b', 2]])
  t.same(await topPages(db, tenant.tenantId, zone, range, 10), all)

  // A late event on 1 November, less than an hour after the day was built: read from its raw rows.
  await views('2026-11-01', '/b', 2, '13:00')
  t.match(await sync(db), { syncedDays: 1, namedDays: 0 }, 'built less than an hour ago: not again yet')
  t.same(await unnamedDays(sql), ['2026-11-01', today])
  const later = [{ page: '/b', views: 4 }, { page: '/a', views: 3 }, { page: '/today', views: 1 }]
  t.same(await topPages(db, tenant.tenantId, zone, range, 10), later, 'the late rows count at once')

  await sql`update platform_metrics set names_built_at = now() - interval '61 minutes' where date = '2026-11-01'`
  t.match(await sync(db), { syncedDays: 0, namedDays: 1 }, 'an hour on, built again')
  t.same(await unnamedDays(sql), [today])
  // Where each day is read from: with every raw row of the past days gone, they still count.
  await sql`delete from user_activities where tenant_id = ${tenant.tenantId} and occurred_at < ${today}::date - 1`
  t.same(await topPages(db, tenant.tenantId, zone, range, 10), later, 'past days from daily_pages')
  t.same(await topEvents(db, tenant.tenantId, zone, range, 10), [{ name: 'pageview', type: 'pageview', count: 8 }], 'and daily_event_names')
})

t.test('days from before migration 0011 are built the latest first, a budget of raw rows a run, and read whole meanwhile', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'history')
  const days = Array.from({ length: 10 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10))
  for (const [i, date] of days.entries()) await pageViews(sql, tenant.tenantId, date, `/p${i % 3}`, 3)
  await sync(db)
  // What migration 0011 finds: days counted, nothing built.
  await sql`update platform_metrics set named_events = 0, names_built_at = null`
  await sql`delete from daily_pages`
  await sql`delete from daily_event_names`
  const range = { from: days[0]!, to: days.at(-1)! }
  const whole = [{ page: '/p0', views: 12 }, { page: '/p1', views: 9 }, { page: '/p2', views: 9 }]
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), whole, 'read from the raw rows')

  t.match(await sync(db, { nameRowsPerRun: 10 }), { syncedDays: 0, namedDays: 3 }, 'as many days as 10 rows allow (3 each)')
  t.same(await unnamedDays(sql), days.slice(0, 7), 'the latest first')
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), whole, 'part from each side, still whole')
  t.match(await sync(db, { nameRowsPerRun: 1 }), { namedDays: 1 }, 'at least one day a run, however large')
  await sync(db)
  t.same(await unnamedDays(sql), [], 'the rest with the default budget')
  await sql`delete from user_activities where tenant_id = ${tenant.tenantId}`
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), whole, 'now from daily_pages alone')
  t.match(await sync(db), { syncedDays: 0, namedDays: 0 }, 'then nothing to do')
})

t.test('building a day whose raw rows are gone (a dropped partition) changes none of its figures', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'dropped')
  await pageViews(sql, tenant.tenantId, '2026-01-05', '/x', 4)
  await sync(db)
  await sql`update platform_metrics set named_events = 0, names_built_at = null`
  await sql`delete from daily_pages`
  await sql`delete from user_activities`
  const range = { from: '2026-01-05', to: '2026-01-05' }
  const before = await historical(db, tenant.tenantId, 'UTC', range)
  t.match(await sync(db), { namedDays: 1 })
  t.same(await historical(db, tenant.tenantId, 'UTC', range), before, 'its events, page views and users kept')
  t.match(before.totals, { events: 4, pageViews: 4 })
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [], 'its pages are gone with its rows, as before')
  t.match(await sync(db), { namedDays: 0 }, 'and it is not built again every run')
  await sql`update platform_metrics set names_built_at = names_built_at - interval '2 hours'`
  t.match(await sync(db), { namedDays: 0 }, 'nor hourly, while nothing is written to it')
  await pageViews(sql, tenant.tenantId, '2026-01-05', '/late', 1)
  t.match(await sync(db), { syncedDays: 1, namedDays: 1 }, 'a late row: built again')
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: '/late', views: 1 }])
  t.match((await historical(db, tenant.tenantId, 'UTC', range)).totals, { events: 5, pageViews: 5 })
})

t.test('a recompute builds the days\' pages and names with their figures', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'recompute', 'America/New_York')
  // 03:00 UTC on 2 November is still 1 November in New York; an action's page counts nowhere.
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, action, occurred_at, received_at) values
      (${tenant.tenantId}, 'e1', 'u1', 'pageview', '/a', null, '2026-11-01T15:00:00Z', now()),
      (${tenant.tenantId}, 'e2', 'u1', 'pageview', '/a', null, '2026-11-02T03:00:00Z', now()),
      (${tenant.tenantId}, 'e3', 'u2', 'pageview', null, null, '2026-11-02T15:00:00Z', now()),
      (${tenant.tenantId}, 'e4', 'u2', 'action', '/a', 'signup', '2026-11-02T15:00:00Z', now()),
      (${tenant.tenantId}, 'e5', 'u2', 'checkout', null, null, '2026-11-02T16:00:00Z', now())`
  await markDaysForRecompute(db, tenant.tenantId, ['2026-11-01', '2026-11-02'])
  t.match(await sync(db), { syncedDays: 2, namedDays: 0 })
  t.same(await unnamedDays(sql), [])
  const rows = await sql`select date::text as date, name, type, events::int as events from daily_event_names order by 1, 2`
  t.same(rows.map((r) => [r.date, r.name, r.type, r.events]), [['2026-11-01', 'pageview', 'pageview', 2], ['2026-11-02', 'checkout', 'checkout', 1], ['2026-11-02', 'pageview', 'pageview', 1], ['2026-11-02', 'signup', 'action', 1]])
  const range = { from: '2026-11-01', to: '2026-11-02' }
  await sql`delete from user_activities`
  t.same(await topPages(db, tenant.tenantId, 'America/New_York', range, 10), [{ page: '/a', views: 2 }])
  t.same(await topEvents(db, tenant.tenantId, 'America/New_York', range, 2), [{ name: 'pageview', type: 'pageview', count: 3 }, { name: 'checkout', type: 'checkout', count: 1 }])
})

t.test('a page past what a btree key holds (2,048 four-byte characters) is counted like any other', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'long-pages')
  const long = '/' + '😀'.repeat(2047)
  await pageViews(sql, tenant.tenantId, '2026-11-01', long, 2)
  await pageViews(sql, tenant.tenantId, '2026-11-01', long + 'x', 1)
  t.match(await sync(db), { namedDays: 1 })
  await sql`delete from user_activities`
  t.same(await topPages(db, tenant.tenantId, 'UTC', { from: '2026-11-01', to: '2026-11-01' }, 10), [{ page: long, views: 2 }, { page: long + 'x', views: 1 }])
})

t.test('a tenant whose days cannot be built is read from its raw rows and tried again an hour later; the others are built, and the sync\'s figures stand', async (t) => {
  const { db, sql } = await testDatabase(t)
  const [good, bad] = [await createTenant(db, 'good'), await createTenant(db, 'bad')]
  await pageViews(sql, good.tenantId, '2026-11-01', '/g', 2)
  await pageViews(sql, bad.tenantId, '2026-11-01', '/boom', 3)
  // Something the build cannot write, standing in for whatever rows no worker checked could hold.
  await sql`create function refuse_boom() returns trigger language plpgsql as $$ begin if new.page = '/boom' then raise exception 'refused'; end if; return new; end $$`
  await sql`create trigger refuse_boom before insert on daily_pages for each row execute function refuse_boom()`
  const result = await sync(db)
  t.match(result, { ran: true, syncedDays: 2, namedDays: 1, namesError: /tenant .*, 1 days from 2026-11-01: refused/ })
  const range = { from: '2026-11-01', to: '2026-11-01' }
  t.match((await historical(db, bad.tenantId, 'UTC', range)).totals, { events: 3 }, 'its figures were synced all the same')
  t.same(await topPages(db, bad.tenantId, 'UTC', range, 10), [{ page: '/boom', views: 3 }], 'its top list from the raw rows')
  t.same(await topPages(db, good.tenantId, 'UTC', range, 10), [{ page: '/g', views: 2 }])
  t.same((await sql`select page from daily_pages`).map((r) => r.page), ['/g'])
  const again = await sync(db)
  t.match(again, { namedDays: 0 }, 'not tried again within the hour')
  t.notOk(again.namesError)
  await sql`drop trigger refuse_boom on daily_pages`
  await sql`update platform_metrics set names_built_at = now() - interval '61 minutes' where tenant_id = ${bad.tenantId}`
  t.match(await sync(db), { namedDays: 1 }, 'an hour on, tried again: built')
  t.same((await sql`select page from daily_pages order by page`).map((r) => r.page), ['/boom', '/g'])
})

t.test("one tenant's sync (POST /sync) builds no pages and names: the periodic run does", async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'scoped')
  await pageViews(sql, tenant.tenantId, '2026-11-01', '/s', 2)
  t.match(await sync(db, { tenantId: tenant.tenantId }), { syncedDays: 1, namedDays: 0 })
  t.same(await topPages(db, tenant.tenantId, 'UTC', { from: '2026-11-01', to: '2026-11-01' }, 10), [{ page: '/s', views: 2 }], 'from the raw rows meanwhile')
  t.match(await sync(db), { namedDays: 1 })
})

t.test('raw days are read as runs of consecutive days', async (t) => {
  t.same(runsOf([]), [])
  t.same(runsOf(['2026-01-01', '2026-01-02', '2026-01-04', '2026-12-31', '2027-01-01']), [['2026-01-01', '2026-01-02'], ['2026-01-04', '2026-01-04'], ['2026-12-31', '2027-01-01']])
})

t.test('the run\'s row in sync_runs counts the build in its duration', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'timed')
  for (let day = 1; day <= 5; day++) await pageViews(sql, tenant.tenantId, `2026-10-0${day}`, '/a', 50)
  const result = await sync(db)
  t.equal(result.namedDays, 5, 'the run built the five days')
  const [row] = await sql`select duration_ms from sync_runs where scope = 'all'`
  t.equal(row!.duration_ms, result.durationMs, 'the same duration as the run reports, build included')
})

t.test('ties in the top lists come in one order: by code point, then by type', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'ties')
  // An action named signup and a custom event type signup, once each; pages /b, /B and /a once each.
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, action, occurred_at, received_at) values
      (${tenant.tenantId}, 'e1', 'u1', 'signup', null, null, now(), now()),
      (${tenant.tenantId}, 'e2', 'u1', 'action', null, 'signup', now(), now()),
      (${tenant.tenantId}, 'e3', 'u1', 'pageview', '/b', null, now(), now()),
      (${tenant.tenantId}, 'e4', 'u1', 'pageview', '/B', null, now(), now()),
      (${tenant.tenantId}, 'e5', 'u1', 'pageview', '/a', null, now(), now())`
  const today = dateIn('UTC', Date.now())
  const range = { from: today, to: today }
  t.same(await topEvents(db, tenant.tenantId, 'UTC', range, 3), [
    { name: 'pageview', type: 'pageview', count: 3 },
    { name: 'signup', type: 'action', count: 1 },
    { name: 'signup', type: 'signup', count: 1 },
  ])
  t.same(await topEvents(db, tenant.tenantId, 'UTC', range, 2), [{ name: 'pageview', type: 'pageview', count: 3 }, { name: 'signup', type: 'action', count: 1 }], 'a limit cuts the same one every time')
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 3), [{ page: '/B', views: 1 }, { page: '/a', views: 1 }, { page: '/b', views: 1 }], 'capitals first, as in code point order')
})
