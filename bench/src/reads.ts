import postgres from 'postgres'
import { createDatabase, createTenant, runMigrations, cleanupAndSync, markDaysForRecompute } from '@tributary/db'
import { percentile, type TestServers } from '@tributary/servers'
import { startIngest } from './ingest.ts'

const log = (line: string) => console.error(`[bench] ${line}`)

export interface ReadsBench {
  events: number
  loadSeconds: number
  syncSeconds: number
  historical365: { p50Ms: number; p95Ms: number }
  /** Top pages and top events over 365 days: read from the raw rows, not the daily metrics (no goal in the spec). */
  topPages365: { p50Ms: number; p95Ms: number }
  topEvents365: { p50Ms: number; p95Ms: number }
  realtime: { p50Ms: number; p95Ms: number }
}

async function latencies(url: string, headers: Record<string, string>, requests: number) {
  const times: number[] = []
  for (let i = 0; i < requests; i++) {
    const started = performance.now()
    const res = await fetch(url, { headers })
    await res.arrayBuffer()
    if (!res.ok) throw new Error(`${url} answered ${res.status}`)
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { p50Ms: Math.round(percentile(times, 50)! * 10) / 10, p95Ms: Math.round(percentile(times, 95)! * 10) / 10 }
}

/**
 * Read latency on a tenant with `events` stored activities spread over the last 365 days
 * (generated in SQL, 50,000 users, 20 events per session), after cleanup-and-sync has built
 * every day: p50/p95 of `historical?days=365`, of top pages and top events over 365 days
 * (today read from its raw rows, the other days from the daily tables), and of `realtime`,
 * one request at a time.
 */
export async function benchReads(servers: TestServers, events: number): Promise<ReadsBench> {
  await runMigrations(servers.databaseUrl)
  const { db, close } = createDatabase(servers.databaseUrl, { applicationName: 'bench', maxConnections: 2 })
  const tenant = await createTenant(db, `reads-${Date.now()}`)
  const sql = postgres(servers.databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const loadStarted = performance.now()
    await sql`
      insert into user_activities (tenant_id, event_id, session_id, user_key, type, page, action, metadata, occurred_at, received_at)
      select ${tenant.tenantId}, 'e' || g, 's' || (g / 20), 'u' || ((g / 20) % 50000),
        case when g % 3 = 0 then 'action' else 'pageview' end,
        case when g % 3 = 0 then null else '/p/' || (g % 200) end,
        case when g % 3 = 0 then 'click' else null end,
        null, now() - make_interval(secs => (g / 20) * (365 * 86400.0 / ${Math.ceil(events / 20)})), now()
      from generate_series(0, ${events - 1}) g`
    await sql`
      insert into user_sessions (tenant_id, id, user_key, started_at, last_seen_at, ended_at, is_active)
      select ${tenant.tenantId}, 's' || s, 'u' || (s % 50000), t, t + interval '5 minutes', t + interval '5 minutes', false
      from (select s, now() - make_interval(secs => s * (365 * 86400.0 / ${Math.ceil(events / 20)})) as t from generate_series(0, ${Math.ceil(events / 20) - 1}) s) x`
    await sql`analyze user_activities`
    await sql`analyze user_sessions`
    const loadSeconds = (performance.now() - loadStarted) / 1000
    log(`loaded ${events} activities over 365 days in ${loadSeconds.toFixed(0)} s`)
    const days = (await sql`select d::date::text as d from generate_series(current_date - 366, current_date, interval '1 day') d`).map((r) => r.d as string)
    await markDaysForRecompute(db, tenant.tenantId, days)
    const syncStarted = performance.now()
    await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
    const syncSeconds = (performance.now() - syncStarted) / 1000
    log(`cleanup-and-sync of 367 days: ${syncSeconds.toFixed(1)} s`)
    // As in steady state, today's top pages and events come from its raw rows (the recompute
    // built them; the next batch would make it count more events than they hold).
    await sql`update platform_metrics set named_events = named_events - 1 where tenant_id = ${tenant.tenantId} and date = current_date`

    const server = await startIngest({ DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl }, 'real')
    try {
      const headers = { authorization: `Bearer ${tenant.readKey}` }
      const base = `http://127.0.0.1:${server.port}/api/v2/analytics`
      await latencies(`${base}/historical?days=365`, headers, 5)
      const historical365 = await latencies(`${base}/historical?days=365`, headers, 100)
      log(`historical?days=365: p50 ${historical365.p50Ms} ms, p95 ${historical365.p95Ms} ms (goal p95 < 50 ms)`)
      await latencies(`${base}/historical/pages?days=365`, headers, 1)
      const topPages365 = await latencies(`${base}/historical/pages?days=365`, headers, 10)
      log(`historical/pages?days=365: p50 ${topPages365.p50Ms} ms, p95 ${topPages365.p95Ms} ms`)
      await latencies(`${base}/historical/events?days=365`, headers, 1)
      const topEvents365 = await latencies(`${base}/historical/events?days=365`, headers, 10)
      log(`historical/events?days=365: p50 ${topEvents365.p50Ms} ms, p95 ${topEvents365.p95Ms} ms`)
      await latencies(`${base}/realtime`, headers, 20)
      const realtime = await latencies(`${base}/realtime`, headers, 500)
      log(`realtime: p50 ${realtime.p50Ms} ms, p95 ${realtime.p95Ms} ms (goal p95 < 10 ms)`)
      return { events, loadSeconds, syncSeconds, historical365, topPages365, topEvents365, realtime }
    } finally {
      await server.stop()
    }
  } finally {
    await sql.end()
    await close()
  }
}
