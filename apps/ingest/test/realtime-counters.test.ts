import t from 'tap'
import { realtimeKeys, shardFor } from '@tributary/shared'
import { readRealtime } from '../src/event-log/realtime.ts'
import { build } from './fixtures/build.ts'

const MIN = 60_000
const iso = (ms: number) => new Date(ms).toISOString()

t.test('counters move with accepted events only, and every key expires', async (t) => {
  const { app, write, redis, tenant, config } = await build(t)
  const now = Date.now()
  const send = (events: unknown[]) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events } })
  const batch = [
    { eventId: '1', type: 'pageview', page: '/a', userId: 'u1', timestamp: iso(now - 1 * MIN) },
    { eventId: '2', type: 'pageview', page: '/a', userId: 'u2', timestamp: iso(now - 2 * MIN) },
    { eventId: '3', type: 'pageview', page: '/b', anonymousId: 'anon', timestamp: iso(now - 10 * MIN) },
    { eventId: '4', type: 'action', action: 'click', userId: 'u1', timestamp: iso(now - 1 * MIN) },
    { eventId: '5', type: 'pageview', page: '/old', userId: 'u3', timestamp: iso(now - 3 * 60 * MIN) },
  ]
  t.equal((await send(batch)).statusCode, 202)
  t.equal((await send(batch)).json().duplicates, 5, 'the resend is all duplicates')
  const options = { shards: config.STREAM_SHARDS, sessionTimeoutMs: 30 * MIN, now }
  const realtime = await readRealtime(redis, tenant.tenantId, options)
  t.equal(realtime.activeUsers, 2, 'u1 and u2 in the last 5 minutes; anon was 10 minutes ago, u3 3 hours ago')
  t.equal(realtime.activeSessions, 3, 'sessions of u1, u2 and anon; not the 3-hour-old one')
  t.same(realtime.topPages, [{ page: '/a', views: 2 }, { page: '/b', views: 1 }], 'page views of the last 30 minutes')
  t.equal(realtime.eventsPerMinute.length, 60)
  t.equal(realtime.eventsPerMinute.reduce((sum, m) => sum + m.count, 0), 4, 'the 3-hour-old event is outside the hour')
  t.equal(realtime.eventsPerMinute.at(-2)!.count + realtime.eventsPerMinute.at(-3)!.count + realtime.eventsPerMinute.at(-1)!.count >= 3, true)

  const keys = realtimeKeys(tenant.tenantId, shardFor(tenant.tenantId, config.STREAM_SHARDS))
  t.ok(await redis.exists(keys.users, keys.sessions), 'the counters are where the reader looks')
  for (const key of await redis.keys('tributary:*')) {
    if (key.startsWith('tributary:events:')) continue
    t.ok((await redis.pttl(key)) > 0, `${key} expires`)
  }
})

t.test('session start, heartbeat and end move the active sessions', async (t) => {
  const { app, write, redis, tenant, config } = await build(t)
  const options = { shards: config.STREAM_SHARDS, sessionTimeoutMs: 30 * MIN }
  await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions', headers: write, payload: { sessionId: 's1', userId: 'u' } })
  await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions', headers: write, payload: { sessionId: 's2', userId: 'v' } })
  t.match(await readRealtime(redis, tenant.tenantId, options), { activeSessions: 2, activeUsers: 2 })
  await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions/s1/end', headers: write, payload: {} })
  t.match(await readRealtime(redis, tenant.tenantId, options), { activeSessions: 1 })

  // What the SDK sent before the end, delivered after it: the session stays ended.
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions/s1/heartbeat', headers: write, payload: {} })).statusCode, 202)
  const late = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events: [{ eventId: 'late', type: 'pageview', page: '/', userId: 'u', sessionId: 's1' }] } })
  t.equal(late.json().accepted, 1)
  t.match(await readRealtime(redis, tenant.tenantId, options), { activeSessions: 1, activeUsers: 2 }, 'a heartbeat or event after the end does not make it active again')
  await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions/s2/heartbeat', headers: write, payload: {} })
  await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events: [{ eventId: 'on', type: 'pageview', page: '/', userId: 'v', sessionId: 's2' }] } })
  t.match(await readRealtime(redis, tenant.tenantId, options), { activeSessions: 1 }, 'the session not ended stays active')
  const ended = `${realtimeKeys(tenant.tenantId, shardFor(tenant.tenantId, config.STREAM_SHARDS)).sessions.slice(0, -'sessions'.length)}ended`
  const ttl = await redis.pttl(ended)
  t.ok(ttl > 0 && ttl <= 30 * MIN, 'ended sessions are remembered for a session timeout')
})

t.test('pages, user keys and event ids with quotes, backslashes, escapes and non-ASCII reach Redis as sent', async (t) => {
  const { app, write, redis, tenant, config } = await build(t)
  const page = '/p/"quoted"\\back\\slash/ü/😀/\u2028'
  const user = 'user "ü" \\ 😀'
  const longId = 'é'.repeat(70)
  const send = (events: unknown[]) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events } })
  const events = [
    { eventId: 'q"1\\', type: 'pageview', page, userId: user },
    { eventId: longId, type: 'pageview', page, userId: user },
    { eventId: 'q3', type: 'pageview', page, anonymousId: 'other "ü"' },
  ]
  t.same((await send(events)).json(), { accepted: 3, duplicates: 0, errors: [] })
  t.same((await send(events)).json(), { accepted: 0, duplicates: 3, errors: [] }, 'each id, the long one hashed, is found again')
  const realtime = await readRealtime(redis, tenant.tenantId, { shards: config.STREAM_SHARDS, sessionTimeoutMs: 30 * MIN })
  t.same(realtime.topPages, [{ page, views: 3 }])
  t.equal(realtime.activeUsers, 2)
  const keys = realtimeKeys(tenant.tenantId, shardFor(tenant.tenantId, config.STREAM_SHARDS))
  t.same((await redis.zrange(keys.users, 0, -1)).sort(), ['other "ü"', user].sort())
})

t.test('a clock running ahead keeps no one active past the real-time windows', async (t) => {
  // Event times up to 24 h ahead are kept (clamped only beyond); as activity they count as
  // of when they arrived, or a client 12 h fast would stay "active" for 12 h.
  const { app, write, redis, tenant, config } = await build(t)
  const ahead = iso(Date.now() + 12 * 60 * MIN)
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { type: 'pageview', page: '/', userId: 'fast-clock', timestamp: ahead } })).statusCode, 202)
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions', headers: write, payload: { sessionId: 'fast-session', userId: 'fast-start', timestamp: ahead } })).statusCode, 201)
  const options = { shards: config.STREAM_SHARDS, sessionTimeoutMs: 30 * MIN }
  t.match(await readRealtime(redis, tenant.tenantId, options), { activeUsers: 2, activeSessions: 2 }, 'active now')
  t.match(await readRealtime(redis, tenant.tenantId, { ...options, now: Date.now() + 6 * MIN }), { activeUsers: 0 }, 'no longer active users 6 minutes on')
  t.match(await readRealtime(redis, tenant.tenantId, { ...options, now: Date.now() + 31 * MIN }), { activeSessions: 0 }, 'no longer active sessions past the timeout')
})

t.test('real-time top pages break ties by code point, as the historical ones do', async (t) => {
  const { app, write, redis, tenant, config } = await build(t)
  // U+FF01 comes before U+1F600 by code point; JavaScript's < puts the emoji first (its UTF-16 starts 0xD83D).
  const pages = ['/😀', '/！', '/B', '/a']
  const events = pages.map((page, i) => ({ eventId: `tie${i}`, type: 'pageview', page, userId: 'u' }))
  t.equal((await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events } })).json().accepted, 4)
  const realtime = await readRealtime(redis, tenant.tenantId, { shards: config.STREAM_SHARDS, sessionTimeoutMs: 30 * MIN })
  t.same(realtime.topPages.map((p) => p.page), ['/B', '/a', '/！', '/😀'])
})
