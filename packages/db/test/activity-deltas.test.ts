import t from 'tap'
import { cleanupAndSync, createTenant, historical, markDaysForRecompute } from '../src/index.ts'
import { testDatabase } from '../src/testing.ts'

type Sql = Awaited<ReturnType<typeof testDatabase>>['sql']

/** What a worker batch appends for the rows it copied: events and page views per tenant, day and user. */
async function appendDelta(sql: Sql, tenantId: string, date: string, userKey: string, events: number, pageViews: number) {
  await sql`insert into activity_deltas (tenant_id, date, user_key, events, page_views) values (${tenantId}, ${date}::date, ${userKey}, ${events}, ${pageViews})`
}

async function dayRows(sql: Sql, tenantId: string) {
  const rows = await sql`select date::text as date, events::int as events, page_views::int as page_views, active_users from platform_metrics where tenant_id = ${tenantId} order by date`
  return rows.map((r) => [r.date, r.events, r.page_views, r.active_users])
}

t.test('activity deltas are added up once: a sync takes them, the next adds nothing, and a tenant sync takes only its own', async (t) => {
  const { db, sql } = await testDatabase(t)
  const [a, b] = [await createTenant(db, 'a'), await createTenant(db, 'b')]
  // Two batches with the same user on one day, a second user, and a second day.
  await appendDelta(sql, a.tenantId, '2026-11-01', 'u1', 50, 30)
  await appendDelta(sql, a.tenantId, '2026-11-01', 'u1', 20, 0)
  await appendDelta(sql, a.tenantId, '2026-11-01', 'u2', 5, 5)
  await appendDelta(sql, a.tenantId, '2026-11-02', 'u1', 1, 1)
  await appendDelta(sql, b.tenantId, '2026-11-01', 'u1', 7, 0)

  const first = await cleanupAndSync(db, { sessionTimeoutMinutes: 30, tenantId: a.tenantId, wait: true })
  t.match(first, { ran: true, syncedDays: 2 })
  t.same(await dayRows(sql, a.tenantId), [['2026-11-01', 75, 35, 2], ['2026-11-02', 1, 1, 1]])
  t.same(await dayRows(sql, b.tenantId), [], "another tenant's deltas wait for a sync of theirs")
  t.equal((await sql`select count(*)::int as n from activity_deltas where tenant_id = ${b.tenantId}`)[0]!.n, 1)

  await appendDelta(sql, a.tenantId, '2026-11-01', 'u3', 2, 0)
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  t.same(await dayRows(sql, a.tenantId), [['2026-11-01', 77, 35, 3], ['2026-11-02', 1, 1, 1]], 'later deltas add to the day; a new user adds a bit')
  t.same(await dayRows(sql, b.tenantId), [['2026-11-01', 7, 0, 1]])

  const again = await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  t.match(again, { ran: true, syncedDays: 0 }, 'nothing left to apply')
  t.same(await dayRows(sql, a.tenantId), [['2026-11-01', 77, 35, 3], ['2026-11-02', 1, 1, 1]], 'a second sync changes nothing')
  t.equal((await sql`select count(*)::int as n from activity_deltas`)[0]!.n, 0, 'every delta taken')
  const { totals } = await historical(db, a.tenantId, 'UTC', { from: '2026-11-01', to: '2026-11-02' })
  t.equal(totals.activeUsers, 3, 'u1 on both days is one user over the range')
})

t.test('a day recomputed from the raw rows takes its pending deltas with it: every row counted once', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'whole-day')
  // 40 rows on 1 November, written with their deltas as a worker writes them, and one delta
  // for 2 November; then 1 November is marked for a whole recompute (a repair, say).
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, occurred_at, received_at)
    select ${tenant.tenantId}, 'e' || n, 'u' || (n % 4), case when n % 2 = 0 then 'pageview' else 'action' end, '2026-11-01T12:00:00Z'::timestamptz + n * interval '1 minute', now()
    from generate_series(1, 40) n`
  await appendDelta(sql, tenant.tenantId, '2026-11-01', 'u0', 40, 20)
  await appendDelta(sql, tenant.tenantId, '2026-11-02', 'u9', 3, 0)
  // A worker's session mark on the day already: the request for a whole rebuild upgrades it.
  await sql`insert into metrics_dirty_days (tenant_id, date, recompute_activities) values (${tenant.tenantId}, '2026-11-01', false)`
  await markDaysForRecompute(db, tenant.tenantId, ['2026-11-01'])
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  t.same(await dayRows(sql, tenant.tenantId), [['2026-11-01', 40, 20, 4], ['2026-11-02', 3, 0, 1]], 'the raw rows counted, not their deltas again; the other day from its delta')
  t.equal((await sql`select count(*)::int as n from activity_deltas`)[0]!.n, 0)
})

t.test("a session mark recomputes the day's sessions and leaves its activity figures to the deltas", async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'sessions')
  await appendDelta(sql, tenant.tenantId, '2026-11-01', 'u1', 10, 4)
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  await sql`insert into user_sessions (tenant_id, id, user_key, started_at, last_seen_at, ended_at, is_active)
            values (${tenant.tenantId}, 's1', 'u1', '2026-11-01T10:00:00Z', '2026-11-01T10:01:00Z', '2026-11-01T10:01:00Z', false),
                   (${tenant.tenantId}, 's2', 'u1', '2026-11-01T11:00:00Z', '2026-11-01T11:00:00Z', null, true)`
  await sql`insert into metrics_dirty_days (tenant_id, date, recompute_activities) values (${tenant.tenantId}, '2026-11-01', false)`
  // Never closes s2 by timeout, whatever today's date (a century, in minutes).
  await cleanupAndSync(db, { sessionTimeoutMinutes: 100 * 366 * 24 * 60, wait: true })
  const [day] = await sql`select events::int as events, page_views::int as page_views, active_users, sessions, ended_sessions, avg_session_duration_seconds as avg from platform_metrics where tenant_id = ${tenant.tenantId}`
  t.same({ ...day }, { events: 10, page_views: 4, active_users: 1, sessions: 2, ended_sessions: 1, avg: 60 }, 'no raw activity rows exist, yet the deltas stay counted')
})

t.test('a day past 2^31 events: the sync adds it up, for that tenant and the others, and the read gives it exactly', async (t) => {
  const { db, sql } = await testDatabase(t)
  const [big, small] = [await createTenant(db, 'big'), await createTenant(db, 'small')]
  // 3,000,000,000 events in a day (a tenant at ~35,000 events/s), in two deltas of 1.5e9.
  await appendDelta(sql, big.tenantId, '2026-11-01', 'u1', 1_500_000_000, 1_000_000_000)
  await appendDelta(sql, big.tenantId, '2026-11-01', 'u2', 1_500_000_000, 1_000_000_000)
  await appendDelta(sql, small.tenantId, '2026-11-01', 'u1', 3, 1)
  t.match(await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true }), { ran: true, syncedDays: 2 }, 'one sync for every tenant, no overflow')
  const [row] = await sql`select events::text as events, page_views::text as page_views from platform_metrics where tenant_id = ${big.tenantId}`
  t.same([row!.events, row!.page_views], ['3000000000', '2000000000'])
  t.same(await dayRows(sql, small.tenantId), [['2026-11-01', 3, 1, 1]], 'and the other tenant is counted too')
  const read = await historical(db, big.tenantId, 'UTC', { from: '2026-11-01', to: '2026-11-01' })
  t.match(read.days, [{ date: '2026-11-01', events: 3_000_000_000, pageViews: 2_000_000_000 }], 'numbers, exact, in the API')
  t.equal(read.totals.events, 3_000_000_000)
})
