import t from 'tap'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { cli } from './fixtures/run-cli.ts'

type Sql = Awaited<ReturnType<typeof testDatabase>>['sql']

async function dayRows(sql: Sql, tenantId: string) {
  const rows = await sql`select date::text as date, events::int as events, page_views::int as page_views, active_users from platform_metrics where tenant_id = ${tenantId} order by date`
  return rows.map((r) => [r.date, r.events, r.page_views, r.active_users])
}

t.test('recompute rebuilds the days of rows no worker wrote (a restore), in the tenant\'s time zone, and again gives the same', async (t) => {
  const { db, sql, url } = await testDatabase(t)
  const env = { DATABASE_URL: url }
  const tenant = await createTenant(db, 'restored', 'America/New_York')
  const other = await createTenant(db, 'untouched')
  // Rows as a restore leaves them: no activity deltas, no marks. 02:00 UTC on 2 November is
  // still 1 November in New York.
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, occurred_at, received_at) values
      (${tenant.tenantId}, 'e1', 'u1', 'pageview', '2026-11-01T15:00:00Z', now()),
      (${tenant.tenantId}, 'e2', 'u2', 'action', '2026-11-02T02:00:00Z', now()),
      (${tenant.tenantId}, 'e3', 'u1', 'pageview', '2026-11-02T16:00:00Z', now()),
      (${tenant.tenantId}, 'e4', 'u1', 'action', '2026-11-05T16:00:00Z', now()),
      (${other.tenantId}, 'e1', 'u1', 'pageview', '2026-11-01T15:00:00Z', now())`

  const sync = await cli(env, 'sync')
  t.equal(sync.code, 0, sync.stderr)
  t.same(await dayRows(sql, tenant.tenantId), [], 'a sync alone never sees rows that came without deltas')

  const first = await cli(env, 'recompute', 'restored', '--from', '2026-11-01', '--to', '2026-11-02', '--json')
  t.equal(first.code, 0, first.stderr)
  t.match(JSON.parse(first.stdout), { tenantId: tenant.tenantId, from: '2026-11-01', to: '2026-11-02', days: 2, syncedDays: 2, durationMs: Number })
  t.match(first.stderr, /2 days of restored \(America\/New_York\) marked for recompute/, 'progress goes to stderr with --json')
  const rebuilt = [['2026-11-01', 2, 1, 2], ['2026-11-02', 1, 1, 1]]
  t.same(await dayRows(sql, tenant.tenantId), rebuilt, 'counted by local day; 5 November was not asked for')
  t.same(await dayRows(sql, other.tenantId), [], "another tenant's days are left alone")

  const again = await cli(env, 'recompute', tenant.tenantId, '--from', '2026-11-01', '--to', '2026-11-02')
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, /recomputed 2 days from the stored rows: synced 2 days/)
  t.same(await dayRows(sql, tenant.tenantId), rebuilt, 'the same figures the second time (the tenant named by its id)')
  t.equal((await sql`select count(*)::int as n from metrics_dirty_days`)[0]!.n, 0, 'no mark left behind')
})

t.test('recompute refuses what it cannot do with exit code 2 and a message, and marks nothing', async (t) => {
  const { db, sql, url } = await testDatabase(t)
  const env = { DATABASE_URL: url }
  await createTenant(db, 'shop')
  const cases: Array<[string[], RegExp]> = [
    [['recompute', '--from', '2026-11-01', '--to', '2026-11-02'], /recompute needs an argument/],
    [['recompute', 'shop', '--to', '2026-11-02'], /recompute needs --from and --to/],
    [['recompute', 'shop', '--from', '2026-02-30', '--to', '2026-03-02'], /--from is a calendar date, YYYY-MM-DD; "2026-02-30" is not/],
    [['recompute', 'shop', '--from', '2026-11-01', '--to', 'today'], /--to is a calendar date/],
    [['recompute', 'shop', '--from', '2026-11-02', '--to', '2026-11-01'], /--from 2026-11-02 is after --to 2026-11-01/],
    [['recompute', 'shop', '--from', '2025-01-01', '--to', '2026-01-02'], /367 days asked; one recompute takes at most 366 .*split the range/],
    [['recompute', 'ghost', '--from', '2026-11-01', '--to', '2026-11-02'], /no tenant named or with id "ghost"/],
    [['recompute', 'shop', 'extra', '--from', '2026-11-01', '--to', '2026-11-02'], /recompute takes one argument; unexpected "extra"/],
    [['sync', '--from', '2026-11-01'], /--from and --to are for recompute/],
    [['recompute', 'shop', '--tenant', 'shop', '--from', '2026-11-01', '--to', '2026-11-02'], /--tenant is for sync; recompute takes the tenant as its argument/],
    [['status', '--tenant', 'shop'], /--tenant is for sync$/m],
  ]
  for (const [args, message] of cases) {
    const result = await cli(env, ...args)
    t.equal(result.code, 2, args.join(' '))
    t.match(result.stderr, message, args.join(' '))
  }
  t.equal((await sql`select count(*)::int as n from metrics_dirty_days`)[0]!.n, 0, 'nothing marked')
  t.equal((await sql`select count(*)::int as n from platform_metrics`)[0]!.n, 0, 'nothing written')
})
