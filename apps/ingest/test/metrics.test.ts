import t from 'tap'
import { build } from './fixtures/build.ts'

function value(text: string, pattern: RegExp): number {
  const line = text.split('\n').find((l) => pattern.test(l))
  return line ? Number(line.split(' ').pop()) : 0
}

t.test('/metrics exposes request and event counters that move with traffic', async (t) => {
  const { app, write } = await build(t)
  const before = (await app.inject({ url: '/metrics' })).body
  t.match(before, /tributary_ingest_process_resident_memory_bytes/, 'process metrics')
  await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { events: [{ eventId: 'm1', type: 'pageview', page: '/', anonymousId: 'a' }, { type: 'pageview' }] } })
  await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: write, payload: { eventId: 'm1', type: 'pageview', page: '/', anonymousId: 'a' } })
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  const text = res.body
  t.equal(value(text, /^tributary_events_total\{outcome="accepted",reason=""\}/), 1)
  t.equal(value(text, /^tributary_events_total\{outcome="duplicate",reason=""\}/), 1)
  t.equal(value(text, /^tributary_events_total\{outcome="rejected",reason="missing_identity"\}/), 1)
  t.equal(value(text, /^tributary_http_requests_total\{route="\/api\/v2\/analytics\/events",method="POST",status="202"\}/), 2)
  t.match(text, /tributary_http_request_duration_seconds_bucket\{le="0.05",route="\/api\/v2\/analytics\/events",method="POST"\}/)
  t.notMatch(text, /wk_|rk_/, 'no keys in labels')
})
