import t from 'tap'
import { cleanupAndSync, createTenant, markDaysForRecompute, topEvents, topPages } from '../src/index.ts'
import { testDatabase } from '../src/testing.ts'

type Sql = Awaited<ReturnType<typeof testDatabase>>['sql']

/** Raw page views of `page` at noon UTC on `date`, one per user key u0, u1, …. */
async function pageViews(sql: Sql, tenantId: string, date: string, page: string, count: number, idPrefix = `${date}${page}`) {
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, occurred_at, received_at)
    select ${tenantId}, ${idPrefix} || '#' || n, 'u' || n, 'pageview', ${page}, ${date}::date + time '12:00', now() from generate_series(1, ${count}) n`
}

/** What a worker of this version appends with those rows. */
async function deltas(sql: Sql, tenantId: string, date: string, page: string, count: number, { names = true } = {}) {
  await sql`insert into activity_deltas (tenant_id, date, user_key, events, page_views) values (${tenantId}, ${date}::date, 'u1', ${count}, ${count})`
  if (names) await sql`insert into activity_name_deltas (tenant_id, date, type, page, events) values (${tenantId}, ${date}::date, 'pageview', ${page}, ${count})`
}

const sync = (db: Parameters<typeof cleanupAndSync>[0]) => cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })

async function unnamedDays(sql: Sql) {
  return (await sql`select date::text as date from platform_metrics where named_events <> events order by 1`).map((r) => r.date as string)
}

t.test('top pages come from the daily rows once synced; a day an older worker wrote (no name deltas) is read from its raw rows until a sync rebuilds it', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'mixed')
  const range = { from: '2026-11-01', to: '2026-11-02' }
  // 1 November through a worker of this version, 2 November through one from before 0011.
  await pageViews(sql, tenant.tenantId, '2026-11-01', '/new', 3)
  await deltas(sql, tenant.tenantId, '2026-11-01', '/new', 3)
  await pageViews(sql, tenant.tenantId, '2026-11-02', '/old', 2)
  await deltas(sql, tenant.tenantId, '2026-11-02', '/old', 2, { names: false })
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [], 'nothing before a sync, as historical says')

  await sync(db)
  t.same(await unnamedDays(sql), ['2026-11-02'], 'the old worker\'s day has events but no names')
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: '/new', views: 3 }, { page: '/old', views: 2 }], 'that day read from its raw rows')
  // Proof of where each day is read from: the first day's raw rows gone, it still counts.
  await sql`delete from user_activities where tenant_id = ${tenant.tenantId} and page = '/new'`
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: '/new', views: 3 }, { page: '/old', views: 2 }], 'the whole day from daily_pages')

  await sync(db)
  t.same(await unnamedDays(sql), [], 'the next sync rebuilt it')
  t.same((await sql`select page, views::int as views from daily_pages where date = '2026-11-02'`).map((r) => [r.page, r.views]), [['/old', 2]])
  await sql`delete from user_activities where tenant_id = ${tenant.tenantId}`
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: '/new', views: 3 }, { page: '/old', views: 2 }], 'now both days from daily_pages')
  t.same(await topEvents(db, tenant.tenantId, 'UTC', range, 10), [{ name: 'pageview', type: 'pageview', count: 5 }])
})

t.test('days from before migration 0011 are read whole from their raw rows, left alone by the sync, and fast once recomputed', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'history')
  const days = Array.from({ length: 40 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10))
  for (const [i, date] of days.entries()) await pageViews(sql, tenant.tenantId, date, `/p${i % 3}`, 1)
  // What migration 0011 finds: days counted, named_events 0, no pages or names.
  await markDaysForRecompute(db, tenant.tenantId, days)
  await sync(db)
  await sql`update platform_metrics set named_events = 0`
  await sql`delete from daily_pages`
  await sql`delete from daily_event_names`
  const range = { from: days[0]!, to: days.at(-1)! }
  const whole = [{ page: '/p0', views: 14 }, { page: '/p1', views: 13 }, { page: '/p2', views: 13 }]
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), whole, 'read from the raw rows')
  t.match(await sync(db), { syncedDays: 0 }, 'a sync rebuilds no history on its own: its raw rows may be gone (a dropped partition)')
  t.equal((await unnamedDays(sql)).length, 40)

  // What `tributary recompute history --from … --to …` does.
  await markDaysForRecompute(db, tenant.tenantId, days)
  await sync(db)
  t.same(await unnamedDays(sql), [])
  await sql`delete from user_activities where tenant_id = ${tenant.tenantId}`
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), whole, 'now from daily_pages alone')
})

t.test('a day rebuilt from its raw rows takes its pending name deltas with it: each row counted once', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'rebuild')
  await pageViews(sql, tenant.tenantId, '2026-11-01', '/a', 4)
  await deltas(sql, tenant.tenantId, '2026-11-01', '/a', 4)
  await markDaysForRecompute(db, tenant.tenantId, ['2026-11-01'])
  await sync(db)
  t.same(await topPages(db, tenant.tenantId, 'UTC', { from: '2026-11-01', to: '2026-11-01' }, 10), [{ page: '/a', views: 4 }])
  t.same(await unnamedDays(sql), [])
  t.equal((await sql`select count(*)::int as n from activity_name_deltas`)[0]!.n, 0)
})

t.test('a page past what a btree key holds (2,048 four-byte characters) is counted like any other', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'long-pages')
  const long = '/' + '😀'.repeat(2047)
  const longer = long + 'x'
  await pageViews(sql, tenant.tenantId, '2026-11-01', long, 2, 'l')
  await deltas(sql, tenant.tenantId, '2026-11-01', long, 2)
  await pageViews(sql, tenant.tenantId, '2026-11-01', longer, 1, 'm')
  await deltas(sql, tenant.tenantId, '2026-11-01', longer, 1)
  await sync(db)
  const range = { from: '2026-11-01', to: '2026-11-01' }
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: long, views: 2 }, { page: longer, views: 1 }], 'from the deltas')
  await markDaysForRecompute(db, tenant.tenantId, ['2026-11-01'])
  await sync(db)
  t.same(await topPages(db, tenant.tenantId, 'UTC', range, 10), [{ page: long, views: 2 }, { page: longer, views: 1 }], 'and rebuilt')
})
