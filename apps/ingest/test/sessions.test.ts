import t from 'tap'
import { build, redisState, storedEntries, storedEvents } from './fixtures/build.ts'

type App = Awaited<ReturnType<typeof build>>['app']
const call = (app: App, headers: Record<string, string>, url: string, payload: unknown = {}) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: payload as string })

t.test('start, heartbeat and end a session; each is one stream entry and no event', async (t) => {
  const { app, write, redis, config } = await build(t)
  const started = await call(app, write, '/api/v2/analytics/sessions', { userId: 'u1', device: 'phone', os: 'iOS', referrer: 'https://news.example' })
  t.equal(started.statusCode, 201, started.body)
  const { sessionId, duplicate } = started.json()
  t.match(sessionId, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'a UUIDv7 when the client sends none')
  t.equal(duplicate, false)

  t.equal((await call(app, write, `/api/v2/analytics/sessions/${sessionId}/heartbeat`)).statusCode, 202)
  const ended = await call(app, write, `/api/v2/analytics/sessions/${sessionId}/end`, { timestamp: new Date().toISOString() })
  t.equal(ended.statusCode, 202)
  t.same(ended.json(), { accepted: true })

  const entries = await storedEntries(redis, config.STREAM_SHARDS)
  t.same(entries.map((e) => e.kind), ['ss', 'sh', 'se'])
  t.match(entries[0], { session: { id: sessionId, uk: 'u1', ui: 'u1', device: 'phone', os: 'iOS', referrer: 'https://news.example', at: Number } })
  t.equal((await storedEvents(redis, config.STREAM_SHARDS)).length, 0, 'session calls are not activities')
})

t.test('starting the same session twice is idempotent', async (t) => {
  const { app, write, redis } = await build(t)
  const first = await call(app, write, '/api/v2/analytics/sessions', { sessionId: 's-1', anonymousId: 'a' })
  t.same(first.json(), { sessionId: 's-1', duplicate: false })
  const before = await redisState(redis)
  const again = await call(app, write, '/api/v2/analytics/sessions', { sessionId: 's-1', anonymousId: 'a' })
  t.equal(again.statusCode, 201)
  t.same(again.json(), { sessionId: 's-1', duplicate: true })
  t.same(await redisState(redis), before)
})

t.test('heartbeat or end of an unknown session is a 404 and changes nothing', async (t) => {
  const { app, write, redis } = await build(t)
  const before = await redisState(redis)
  for (const path of ['heartbeat', 'end']) {
    const res = await call(app, write, `/api/v2/analytics/sessions/nope/${path}`)
    t.equal(res.statusCode, 404)
    t.equal(res.json().code, 'unknown_session')
  }
  t.same(await redisState(redis), before)
})

t.test('a session needs a user; bad fields are 400', async (t) => {
  const { app, write, redis } = await build(t)
  const before = await redisState(redis)
  const cases: Array<[unknown, string]> = [
    [{}, 'missing_identity'],
    [{ userId: 'u', extra: 1 }, 'unknown_field'],
    [{ userId: 5 }, 'validation_failed'],
    [{ userId: 'u', timestamp: 'soon' }, 'validation_failed'],
  ]
  for (const [body, code] of cases) {
    const res = await call(app, write, '/api/v2/analytics/sessions', body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.equal(res.json().code, code)
  }
  t.same(await redisState(redis), before)
})

t.test('events naming a started session take its user; an unknown session is reported', async (t) => {
  const { app, write, redis, config } = await build(t)
  await call(app, write, '/api/v2/analytics/sessions', { sessionId: 'known', userId: 'u9' })
  const res = await call(app, write, '/api/v2/analytics/events', {
    events: [
      { type: 'pageview', page: '/a', sessionId: 'known' },
      { type: 'pageview', page: '/b', sessionId: 'mystery' },
    ],
  })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { accepted: 1, errors: [{ index: 1, code: 'unknown_session' }] })
  const [event] = await storedEvents(redis, config.STREAM_SHARDS)
  t.match(event, { sessionId: 'known', userKey: 'u9', page: '/a' })
})
