import t from 'tap'
import { cleanupAndSync, createTenant, historical, markDaysForRecompute } from '../src/index.ts'
import { testDatabase } from '../src/testing.ts'

const DAYS = ['2026-11-01', '2026-11-02', '2026-11-03']

/**
 * Distinct users over a range come from per-day bitmaps of user numbers (8,192 users per
 * bitmap). With 20,000 users — three bitmaps, the last partly filled — and overlapping days,
 * every range must give exactly what count(distinct) over the raw activities gives, before
 * and after more users and days arrive.
 */
t.test('distinct users over any range equal count(distinct) over the raw activities, across bitmap chunks', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'bitmaps')
  // User u is active on day d unless u % 3 == d; user numbers follow the order of first sync.
  const load = async (fromUser: number, toUser: number, tag: string) => {
    await sql`
      insert into user_activities (tenant_id, event_id, session_id, user_key, type, occurred_at, received_at)
      select ${tenant.tenantId}, ${tag} || '-' || u || '-' || d, 's' || u, 'user-' || u, 'pageview', ${DAYS[0]!}::date + d + interval '12 hours', now()
      from generate_series(${fromUser}::int, ${toUser - 1}::int) u, generate_series(0, 2) d where u % 3 <> d`
    await markDaysForRecompute(db, tenant.tenantId, DAYS)
    await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  }
  const check = async (label: string) => {
    for (const [from, to] of [[DAYS[0]!, DAYS[0]!], [DAYS[1]!, DAYS[1]!], [DAYS[0]!, DAYS[1]!], [DAYS[1]!, DAYS[2]!], [DAYS[0]!, DAYS[2]!], ['2026-10-01', '2026-12-31']] as const) {
      const [raw] = await sql<Array<{ n: number }>>`
        select count(distinct user_key)::int as n from user_activities
        where tenant_id = ${tenant.tenantId} and occurred_at >= ${from}::date and occurred_at < ${to}::date + 1`
      const { totals } = await historical(db, tenant.tenantId, 'UTC', { from, to })
      t.equal(totals.activeUsers, raw!.n, `${label}: ${from} → ${to}: ${raw!.n} distinct users`)
    }
  }
  await load(0, 20_000, 'a')
  const [chunks] = await sql<Array<{ n: number }>>`select count(distinct chunk)::int as n from daily_user_bitmaps where tenant_id = ${tenant.tenantId}`
  t.equal(chunks!.n, 3, '20,000 users fill three bitmaps')
  await check('first load')
  // Returning users keep their numbers; new ones get the next numbers; days already synced are rebuilt.
  const [before] = await sql<Array<{ n: number }>>`select user_number as n from tenant_users where tenant_id = ${tenant.tenantId} and user_key = 'user-19999'`
  await load(15_000, 26_000, 'b')
  const [after] = await sql<Array<{ n: number }>>`select user_number as n from tenant_users where tenant_id = ${tenant.tenantId} and user_key = 'user-19999'`
  t.equal(after!.n, before!.n, 'a user keeps its number across syncs')
  const [numbers] = await sql<Array<{ users: number; top: number }>>`select count(*)::int as users, max(user_number) as top from tenant_users where tenant_id = ${tenant.tenantId}`
  t.same(numbers, { users: 26_000, top: 25_999 }, 'numbers are dense: 0 … users − 1')
  await check('after more users')
})
