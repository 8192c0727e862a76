import t from 'tap'
import { pino } from 'pino'
import { createTenant } from '@tributary/db'
import { buildApp } from '../../ingest/src/app.ts'
import { loadIngestConfig } from '../../ingest/src/config.ts'
import { pipeline, SHARDS } from './fixtures/pipeline.ts'

/**
 * A hand-computed dataset through the whole pipeline: ingest API → streams → worker →
 * cleanup-and-sync → read API. Every expected figure below is worked out in the comments.
 */
const at = (iso: string) => iso

t.test('historical figures match the hand-computed dataset exactly', async (t) => {
  const p = await pipeline(t)
  const nyc = await createTenant(p.database.db, 'nyc', 'America/New_York')
  // SYNC_MIN_INTERVAL_MS 0: the dataset syncs one tenant again and again, within a second.
  const config = loadIngestConfig({ DATABASE_URL: p.database.url, REDIS_URL: p.redisUrl, STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent', KEY_CACHE_TTL_MS: '1', SYNC_MIN_INTERVAL_MS: '0' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const worker = await p.startWorker({ SYNC_INTERVAL_MS: '3600000' })
  const A = { write: { authorization: `Bearer ${p.tenant.writeKey}` }, read: { authorization: `Bearer ${p.tenant.readKey}` } }
  const B = { write: { authorization: `Bearer ${nyc.writeKey}` }, read: { authorization: `Bearer ${nyc.readKey}` } }
  const post = async (url: string, headers: Record<string, string>, payload: unknown, status: number) => {
    const res = await app.inject({ method: 'POST', url, headers, payload: payload as string })
    t.equal(res.statusCode, status, `${url}: ${res.body.slice(0, 200)}`)
    return res
  }
  const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers })
  const drained = (rows: number) => p.waitFor(async () => (await p.rowCount()) === rows && (await p.pendingCount()) === 0, `${rows} rows`)

  // Tenant A (UTC). D1 = 2026-11-10, D2 = 2026-11-11.
  const firstBatch = {
    events: [
      // u1's morning visit: one session 10:00-10:20 (timed out later: 1200 s).
      { eventId: 'a1', type: 'pageview', page: '/home', userId: 'u1', timestamp: at('2026-11-10T10:00:00Z') },
      { eventId: 'a2', type: 'action', action: 'signup', userId: 'u1', timestamp: at('2026-11-10T10:10:00Z') },
      { eventId: 'a3', type: 'pageview', page: '/pricing', userId: 'u1', timestamp: at('2026-11-10T10:20:00Z') },
      // u1 again across midnight: one session started on D1, 23:50-00:05 (900 s).
      { eventId: 'a4', type: 'pageview', page: '/home', userId: 'u1', timestamp: at('2026-11-10T23:50:00Z') },
      { eventId: 'a5', type: 'pageview', page: '/docs', userId: 'u1', timestamp: at('2026-11-11T00:05:00Z') },
    ],
  }
  await post('/api/v2/analytics/events', A.write, firstBatch, 202)
  // A client retry: changes nothing.
  const again = await post('/api/v2/analytics/events', A.write, firstBatch, 202)
  t.same(again.json(), { accepted: 0, duplicates: 5, errors: [] })
  // An explicit session on D2: start 09:00, an event, a heartbeat, end 09:40 (2400 s).
  await post('/api/v2/analytics/sessions', A.write, { sessionId: 'S-explicit', anonymousId: 'anon1', device: 'phone', timestamp: at('2026-11-11T09:00:00Z') }, 201)
  await post('/api/v2/analytics/events', A.write, { eventId: 'a6', type: 'pageview', page: '/home', sessionId: 'S-explicit', timestamp: at('2026-11-11T09:01:00Z') }, 202)
  await post('/api/v2/analytics/sessions/S-explicit/heartbeat', A.write, { timestamp: at('2026-11-11T09:30:00Z') }, 202)
  await post('/api/v2/analytics/sessions/S-explicit/end', A.write, { timestamp: at('2026-11-11T09:40:00Z') }, 202)

  // Tenant B (America/New_York, UTC-5 in November).
  // 03:00Z on the 11th is 22:00 on the 10th there; 06:00Z is 01:00 on the 11th, three hours later: a new session.
  await post('/api/v2/analytics/events', B.write, { events: [
    { eventId: 'b1', type: 'pageview', page: '/b', userId: 'b-user', timestamp: at('2026-11-11T03:00:00Z') },
    { eventId: 'b2', type: 'pageview', page: '/b2', userId: 'b-user', timestamp: at('2026-11-11T06:00:00Z') },
  ] }, 202)

  await drained(8)
  const firstSync = await post('/api/v2/analytics/sync', A.read, undefined, 200)
  t.match(firstSync.json(), { syncedDays: 2, sessionsClosed: 2 }, 'u1’s two sessions timed out; D1 and D2 recomputed')

  const range = '?from=2026-11-09&to=2026-11-12'
  const before = (await get(`/api/v2/analytics/historical${range}`, A.read)).json()
  // D1 so far: events a1-a4 = 4, page views 3, users {u1}, sessions 2 ending after 1200 s and 900 s.
  t.match(before.days[1], { date: '2026-11-10', events: 4, pageViews: 3, activeUsers: 1, sessions: 2, avgSessionDurationSeconds: 1050 })

  // A late, back-dated event after D1 was synced: u2 at 15:00 on D1, its own session.
  await post('/api/v2/analytics/events', A.write, { eventId: 'late', type: 'pageview', page: '/pricing', userId: 'u2', timestamp: at('2026-11-10T15:00:00Z') }, 202)
  await drained(9)
  t.match((await post('/api/v2/analytics/sync', A.read, undefined, 200)).json(), { syncedDays: 1, sessionsClosed: 1 })
  t.match((await post('/api/v2/analytics/sync', B.read, undefined, 200)).json(), { sessionsClosed: 2 })

  const res = await get(`/api/v2/analytics/historical${range}`, A.read)
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    tenantId: p.tenant.tenantId,
    from: '2026-11-09',
    to: '2026-11-12',
    days: [
      { date: '2026-11-09', activeUsers: 0, sessions: 0, avgSessionDurationSeconds: 0, events: 0, pageViews: 0 },
      // a1 a2 a3 a4 late: 5 events, 4 page views, {u1, u2}; sessions 1200 s, 900 s, 0 s: mean 700.
      { date: '2026-11-10', activeUsers: 2, sessions: 3, avgSessionDurationSeconds: 700, events: 5, pageViews: 4 },
      // a5 (u1 after midnight, in D1's session) and a6 (anon1): 2 events; one session started, 2400 s.
      { date: '2026-11-11', activeUsers: 2, sessions: 1, avgSessionDurationSeconds: 2400, events: 2, pageViews: 2 },
      { date: '2026-11-12', activeUsers: 0, sessions: 0, avgSessionDurationSeconds: 0, events: 0, pageViews: 0 },
    ],
    // {u1, u2, anon1}; 4 sessions; (1200 + 900 + 0 + 2400) / 4 = 1125 s.
    totals: { activeUsers: 3, sessions: 4, avgSessionDurationSeconds: 1125, events: 7, pageViews: 6 },
  })

  const nycDays = (await get(`/api/v2/analytics/historical${range}`, B.read)).json()
  t.same(nycDays.days.map((d: { date: string; events: number; sessions: number }) => [d.date, d.events, d.sessions]), [
    ['2026-11-09', 0, 0],
    ['2026-11-10', 1, 1],
    ['2026-11-11', 1, 1],
    ['2026-11-12', 0, 0],
  ], 'B’s days are New York days')
  t.match(nycDays.totals, { activeUsers: 1, sessions: 2, events: 2, pageViews: 2 })

  const pages = (await get(`/api/v2/analytics/historical/pages${range}`, A.read)).json()
  t.same(pages.pages, [{ page: '/home', views: 3 }, { page: '/pricing', views: 2 }, { page: '/docs', views: 1 }])
  const events = (await get(`/api/v2/analytics/historical/events${range}&limit=1`, A.read)).json()
  t.same(events.events, [{ name: 'pageview', type: 'pageview', count: 6 }])

  // Syncing again changes nothing.
  // (The figures: the first periodic run also builds the past days' top pages and events.)
  const figures = () => p.database.sql`select tenant_id, date, active_users, sessions, avg_session_duration_seconds, ended_sessions, events, page_views, updated_at from platform_metrics order by tenant_id, date`
  const rowsBefore = await figures()
  t.match((await post('/api/v2/analytics/sync', A.read, undefined, 200)).json(), { syncedDays: 0, sessionsClosed: 0 })
  const periodic = await worker.sync()
  t.match(periodic, { ran: true, syncedDays: 0, namedDays: 4 })
  const rowsAfter = await figures()
  t.same(rowsAfter.map((r) => ({ ...r })), rowsBefore.map((r) => ({ ...r })), 'platform_metrics figures unchanged')
  t.same((await get(`/api/v2/analytics/historical/pages${range}`, A.read)).json().pages, pages.pages, 'the top pages the same from the built days')

  // Keys: a write key cannot read; a read key cannot write; nobody sees another tenant.
  t.equal((await get(`/api/v2/analytics/historical${range}`, A.write)).statusCode, 403)
  t.equal((await post('/api/v2/analytics/events', A.read, { type: 'x', userId: 'u' }, 403)).json().code, 'forbidden_key_kind')
  t.equal((await get(`/api/v2/analytics/historical${range}`, {})).statusCode, 401)
  t.equal(nycDays.tenantId, nyc.tenantId)
})

t.test('range errors are clear 400s', async (t) => {
  const p = await pipeline(t)
  const config = loadIngestConfig({ DATABASE_URL: p.database.url, REDIS_URL: p.redisUrl, STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const read = { authorization: `Bearer ${p.tenant.readKey}` }
  for (const [query, code] of [
    ['days=0', 'invalid_range'],
    ['days=366', 'invalid_range'],
    ['days=abc', 'validation_failed'],
    ['days=5&from=2026-01-01&to=2026-01-02', 'invalid_range'],
    ['from=2026-01-01', 'invalid_range'],
    ['from=2026-02-30&to=2026-03-01', 'invalid_range'],
    ['from=2026-03-01&to=2026-02-01', 'invalid_range'],
    ['from=2025-01-01&to=2026-12-31', 'invalid_range'],
    ['days=5&limit=0', 'invalid_limit'],
    ['days=5&nope=1', 'unknown_field'],
  ]) {
    const url = query!.includes('limit') ? '/api/v2/analytics/historical/pages' : '/api/v2/analytics/historical'
    const res = await app.inject({ method: 'GET', url: `${url}?${query}`, headers: read })
    t.equal(res.statusCode, 400, query!)
    t.equal(res.json().code, code, query!)
  }
  // The last week of the calendar: a range that never ended once (its next day was not a date), so the process hung.
  const lastWeek = 'from=9999-12-25&to=9999-12-31'
  const farHistory = await app.inject({ method: 'GET', url: `/api/v2/analytics/historical?${lastWeek}`, headers: read })
  t.equal(farHistory.statusCode, 200, lastWeek)
  t.same(farHistory.json().days.map((d: { date: string; events: number }) => [d.date, d.events]), ['25', '26', '27', '28', '29', '30', '31'].map((d) => [`9999-12-${d}`, 0]), 'seven days, zero-filled')
  for (const route of ['pages', 'events']) {
    const res = await app.inject({ method: 'GET', url: `/api/v2/analytics/historical/${route}?${lastWeek}`, headers: read })
    t.equal(res.statusCode, 200, `${route} over the last week of the calendar`)
    t.same(res.json()[route], [], `no ${route}`)
  }
  const ok = await app.inject({ method: 'GET', url: '/api/v2/analytics/historical?days=365', headers: read })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().days.length, 365, 'one entry per day, zero-filled')
  const realtime = await app.inject({ method: 'GET', url: '/api/v2/analytics/realtime', headers: read })
  t.equal(realtime.statusCode, 200)
  t.match(realtime.json(), { activeUsers: 0, activeSessions: 0, eventsPerMinute: Array, topPages: [] })
})
