import t from 'tap'
import { build, redisState } from './fixtures/build.ts'

const origin = 'https://shop.example'

t.test('a browser may preflight and call every ingestion route from any origin', async (t) => {
  const { app, tenant, redis } = await build(t)
  const before = await redisState(redis)
  for (const url of ['/api/v2/analytics/events', '/api/v2/analytics/sessions', '/api/v2/analytics/sessions/s-1/heartbeat', '/api/v2/analytics/sessions/s-1/end', '/v1/batch', '/v1/b', '/v1/t', '/v1/page']) {
    const res = await app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } })
    t.equal(res.statusCode, 204, `${url}: preflight`)
    t.match(res.headers, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST', 'access-control-max-age': '86400' }, url)
    t.equal(res.headers['access-control-allow-headers'], 'authorization, content-type', `${url}: the headers the browser asked for`)
  }
  const rudder = await app.inject({ method: 'OPTIONS', url: '/v1/batch', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,anonymousid' } })
  t.equal(rudder.headers['access-control-allow-headers'], 'content-type,anonymousid', "an SDK's own header (RudderStack's AnonymousId) is allowed too")
  const none = await app.inject({ method: 'OPTIONS', url: '/v1/batch', headers: { origin, 'access-control-request-method': 'POST' } })
  t.equal(none.headers['access-control-allow-headers'], 'authorization, content-type, content-encoding', 'asked for none: the usual ones')
  t.same(await redisState(redis), before, 'preflights change nothing')

  const sent = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { origin, authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, payload: { type: 'pageview', page: '/', anonymousId: 'a' } })
  t.equal(sent.statusCode, 202)
  t.equal(sent.headers['access-control-allow-origin'], '*', 'the answer is readable by the page')
  t.equal(sent.headers['access-control-expose-headers'], 'Retry-After, X-RateLimit-Reset', 'and so is when to retry')
  // analytics.js: text/plain and the key in the body, a "simple" request with no preflight.
  const segment = await app.inject({ method: 'POST', url: '/v1/t', headers: { origin, 'content-type': 'text/plain' }, payload: JSON.stringify({ writeKey: tenant.writeKey, messageId: 'm1', userId: 'u', event: 'E' }) })
  t.equal(segment.statusCode, 200)
  t.equal(segment.headers['access-control-allow-origin'], '*')
})

t.test('refusals carry the header too, so the SDK can read why', async (t) => {
  const { app, tenant } = await build(t)
  const noKey = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { origin, 'content-type': 'application/json' }, payload: { type: 'x', userId: 'u' } })
  t.equal(noKey.statusCode, 401)
  t.equal(noKey.headers['access-control-allow-origin'], '*', '401')
  const bad = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { origin, authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, payload: '{"type": ' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.headers['access-control-allow-origin'], '*', '400')
  const tooLarge = await app.inject({ method: 'POST', url: '/v1/batch', headers: { origin, authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ batch: [{ type: 'track', userId: 'u', event: 'E', properties: { pad: 'x'.repeat(2_000_000) } }] }) })
  t.equal(tooLarge.statusCode, 413)
  t.equal(tooLarge.headers['access-control-allow-origin'], '*', '413')
})

t.test('the read routes, whose keys are secret, are not open to browsers', async (t) => {
  const { app, tenant } = await build(t)
  const preflight = await app.inject({ method: 'OPTIONS', url: '/api/v2/analytics/historical', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.statusCode, 404)
  t.notOk(preflight.headers['access-control-allow-origin'])
  const read = await app.inject({ method: 'GET', url: '/api/v2/analytics/realtime', headers: { origin, authorization: `Bearer ${tenant.readKey}` } })
  t.equal(read.statusCode, 200)
  t.notOk(read.headers['access-control-allow-origin'], 'no CORS header on a read')
})
