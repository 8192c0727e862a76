import t from 'tap'
import { pino } from 'pino'
import { buildApp } from '../src/app.ts'
import { build, storedEvents } from './fixtures/build.ts'

const MIN = 60_000
const iso = (ms: number) => new Date(ms).toISOString()

type App = Awaited<ReturnType<typeof build>>['app']
const send = (app: App, headers: Record<string, string>, events: unknown[]) =>
  app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { 'content-type': 'application/json', ...headers }, payload: { events } })

function sessionsOf(events: Array<{ eventId: string; sessionId: string }>) {
  const byEvent = Object.fromEntries(events.map((e) => [e.eventId, e.sessionId]))
  return byEvent
}

t.test('events without a session id are grouped by user and a 30-minute gap in event time', async (t) => {
  const { app, write, redis, config } = await build(t)
  const now = Date.now()
  const res = await send(app, write, [
    { eventId: 'a1', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 100 * MIN) },
    { eventId: 'a2', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 80 * MIN) },
    { eventId: 'b1', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 40 * MIN) },
    { eventId: 'b2', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 15 * MIN) },
    { eventId: 'other', type: 'pageview', page: '/', userId: 'someone-else', timestamp: iso(now - 15 * MIN) },
  ])
  t.equal(res.statusCode, 202)
  const s = sessionsOf(await storedEvents(redis, config.STREAM_SHARDS))
  t.equal(s.a1, s.a2, '20 minutes apart: one session')
  t.equal(s.b1, s.b2, '25 minutes apart: one session')
  t.not(s.a1, s.b1, '40 minutes apart: a new session')
  t.not(s.b2, s.other, 'another user never shares a session')
  // New session ids are UUIDv7s carrying the time of the event that started them.
  const uuidv7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  for (const [first, at] of [['a1', now - 100 * MIN], ['b1', now - 40 * MIN], ['other', now - 15 * MIN]] as const) {
    const m = uuidv7.exec(s[first]!)
    t.ok(m, `${first}: ${s[first]} is a UUIDv7`)
    t.equal(parseInt(m![1]! + m![2]!, 16), new Date(iso(at)).getTime(), `${first}: the time in front is the event's`)
  }
})

t.test('session ids made in the same request and millisecond differ', async (t) => {
  const { app, write, redis, config } = await build(t)
  const at = iso(Date.now())
  const events = Array.from({ length: 200 }, (_, i) => ({ eventId: `e${i}`, type: 'pageview', page: '/', userId: `user-${i}`, timestamp: at }))
  t.equal((await send(app, write, events)).statusCode, 202)
  t.equal((await send(app, write, events.map((e) => ({ ...e, eventId: `again-${e.eventId}`, userId: `other-${e.userId}` })))).statusCode, 202)
  const ids = Object.values(sessionsOf(await storedEvents(redis, config.STREAM_SHARDS)))
  t.equal(ids.length, 400)
  t.equal(new Set(ids).size, 400, 'one session per user, no two alike')
})

t.test('a back-dated offline batch forms its own sessions at its own time', async (t) => {
  const { app, write, redis, config } = await build(t)
  const now = Date.now()
  await send(app, write, [{ eventId: 'today', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now) }])
  // Sent now, but recorded offline two days ago: two visits three hours apart.
  await send(app, write, [
    { eventId: 'old1', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 48 * 60 * MIN) },
    { eventId: 'old2', type: 'action', action: 'tap', userId: 'u', timestamp: iso(now - 48 * 60 * MIN + 5 * MIN) },
    { eventId: 'old3', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 45 * 60 * MIN) },
  ])
  const s = sessionsOf(await storedEvents(redis, config.STREAM_SHARDS))
  t.equal(s.old1, s.old2)
  t.not(s.old1, s.old3)
  t.not(s.old1, s.today, 'not folded into today’s session')
  t.not(s.old3, s.today)
})

t.test('events arriving out of order and across requests join the same session', async (t) => {
  const { app, write, redis, config } = await build(t)
  const now = Date.now()
  await send(app, write, [{ eventId: 'late', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 5 * MIN) }])
  await send(app, write, [{ eventId: 'early', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 25 * MIN) }])
  const s = sessionsOf(await storedEvents(redis, config.STREAM_SHARDS))
  t.equal(s.early, s.late)
})

t.test('one user\'s request jumping between two sessions puts each event in the session whose time it falls in', async (t) => {
  const { app, write, redis, config } = await build(t)
  const now = Date.now() - 120 * MIN
  // Two visits 50 minutes apart, the events sent interleaved: the request's last session is
  // not the right one for every next event.
  const times: Array<[string, number]> = [['a1', 0], ['a2', 10], ['b1', 60], ['a3', 5], ['b2', 70], ['b3', 65], ['a4', 10], ['a5', 12]]
  const res = await send(app, write, times.map(([id, m]) => ({ eventId: id, type: 'pageview', page: '/', userId: 'u', timestamp: iso(now + m * MIN) })))
  t.equal(res.statusCode, 202)
  const s = sessionsOf(await storedEvents(redis, config.STREAM_SHARDS))
  for (const id of ['a2', 'a3', 'a4', 'a5']) t.equal(s[id], s.a1, `${id} in the first visit`)
  for (const id of ['b2', 'b3']) t.equal(s[id], s.b1, `${id} in the second visit`)
  t.not(s.a1, s.b1)
})

t.test('two ingest processes sessionise one user consistently (state lives in Redis)', async (t) => {
  const { app, write, redis, config } = await build(t)
  const second = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => second.close())
  const now = Date.now()
  const requests = []
  for (let i = 0; i < 40; i++) {
    const target = i % 2 === 0 ? app : second
    requests.push(send(target, write, [{ eventId: `c${i}`, type: 'pageview', page: '/', userId: 'shared-user', timestamp: iso(now - (40 - i) * 1000) }]))
  }
  const responses = await Promise.all(requests)
  t.ok(responses.every((r) => r.statusCode === 202))
  const sessions = new Set((await storedEvents(redis, config.STREAM_SHARDS)).map((e) => e.sessionId))
  t.equal(sessions.size, 1, 'forty concurrent requests through two processes: one session')
})

t.test('the session timeout is configurable', async (t) => {
  const { app, write, redis, config } = await build(t, { SESSION_TIMEOUT_MINUTES: '5' })
  const now = Date.now()
  await send(app, write, [
    { eventId: 'x', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 20 * MIN) },
    { eventId: 'y', type: 'pageview', page: '/', userId: 'u', timestamp: iso(now - 10 * MIN) },
  ])
  const s = sessionsOf(await storedEvents(redis, config.STREAM_SHARDS))
  t.not(s.x, s.y, '10 minutes is past a 5-minute timeout')
})
