import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build, redisState, storedEvents } from './fixtures/build.ts'

type App = Awaited<ReturnType<typeof build>>['app']
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` })
const post = (app: App, url: string, headers: Record<string, string>, payload: unknown, contentType = 'application/json') =>
  app.inject({ method: 'POST', url, headers: { 'content-type': contentType, ...headers }, payload: payload as string })

t.test('each Segment call maps onto the internal event shape', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  const auth = basic(tenant.writeKey)
  const calls: Array<[string, Record<string, unknown>]> = [
    ['track', { messageId: 'm-track', userId: 'u1', event: 'Order Completed', properties: { revenue: 42 } }],
    ['page', { messageId: 'm-page', anonymousId: 'anon', name: 'Pricing', properties: { path: '/pricing', url: 'https://x/pricing' } }],
    ['page', { messageId: 'm-page-ctx', anonymousId: 'anon', context: { page: { path: '/from-context' } } }],
    ['page', { messageId: 'm-page-name', anonymousId: 'anon', name: 'Home' }],
    ['screen', { messageId: 'm-screen', userId: 42, name: 'Settings' }],
    ['identify', { messageId: 'm-identify', userId: 'u1', traits: { email: 'a@b.c' } }],
    ['group', { messageId: 'm-group', userId: 'u1', groupId: 'g1', traits: { plan: 'pro' } }],
    ['alias', { messageId: 'm-alias', userId: 'u1', previousId: 'anon' }],
  ]
  for (const [type, message] of calls) {
    const res = await post(app, `/v1/${type}`, auth, message)
    t.equal(res.statusCode, 200, `${type}: ${res.body}`)
    t.same(res.json(), { success: true, accepted: 1, duplicates: 0, errors: [] })
  }
  const byId = Object.fromEntries((await storedEvents(redis, config.STREAM_SHARDS)).map((e) => [e.eventId, e]))
  t.match(byId['m-track'], { type: 'action', action: 'Order Completed', userId: 'u1', metadata: { event: 'Order Completed', properties: { revenue: 42 } } })
  t.match(byId['m-page'], { type: 'pageview', page: '/pricing', anonymousId: 'anon', userKey: 'anon' })
  t.match(byId['m-page-ctx'], { type: 'pageview', page: '/from-context' })
  t.match(byId['m-page-name'], { type: 'pageview', page: 'Home' })
  t.match(byId['m-screen'], { type: 'screen', page: 'Settings', userId: '42', userKey: '42' })
  t.match(byId['m-identify'], { type: 'identify', metadata: { traits: { email: 'a@b.c' } } })
  t.match(byId['m-group'], { type: 'group', metadata: { groupId: 'g1' } })
  t.match(byId['m-alias'], { type: 'alias', metadata: { previousId: 'anon' } })
})

t.test('/v1/batch: writeKey in the body, unknown fields kept, bad messages reported by index', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  const res = await post(app, '/v1/batch', {}, {
    writeKey: tenant.writeKey,
    sentAt: new Date().toISOString(),
    context: { library: { name: 'custom-sdk' } },
    batch: [
      { type: 'track', messageId: 'b1', userId: 'u', event: 'Clicked', someVendorField: { x: 1 } },
      { type: 'page', messageId: 'b2', anonymousId: 'a', properties: { path: '/' } },
      { type: 'track', messageId: 'b3', userId: 'u' },
      { type: 'shout', messageId: 'b4', userId: 'u' },
      { type: 'track', messageId: 'b5', event: 'No user' },
    ],
  })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { success: true, accepted: 2, errors: [{ index: 2, code: 'validation_failed' }, { index: 3, code: 'validation_failed' }, { index: 4, code: 'missing_identity' }] })
  const stored = await storedEvents(redis, config.STREAM_SHARDS)
  const b1 = stored.find((e) => e.eventId === 'b1')
  t.match(b1?.metadata, { someVendorField: { x: 1 }, context: { library: { name: 'custom-sdk' } } }, 'unknown fields and the batch context are kept')
  t.notOk(JSON.stringify(stored).includes(tenant.writeKey), 'the write key is never stored')
})

t.test('"" for an id and null for properties, traits or context are taken as absent, not refused', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  const res = await post(app, '/v1/batch', basic(tenant.writeKey), {
    context: null,
    batch: [
      { type: 'track', messageId: 'n1', userId: '', anonymousId: 'a', event: 'Clicked', properties: null, context: null },
      { type: 'identify', messageId: 'n2', userId: 'u', anonymousId: '', traits: null },
      { type: 'page', messageId: 'n3', userId: 'u', properties: null, name: 'Home' },
      { type: 'track', messageId: 'n4', userId: '', anonymousId: '', event: 'Nobody' },
    ],
  })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { success: true, accepted: 3, errors: [{ index: 3, code: 'missing_identity' }] }, 'an event with no id at all is still refused')
  const byId = Object.fromEntries((await storedEvents(redis, config.STREAM_SHARDS)).map((e) => [e.eventId, e]))
  t.match(byId.n1, { type: 'action', userKey: 'a', anonymousId: 'a' })
  t.equal(byId.n1?.userId, undefined, 'the empty userId is not kept as an id')
  t.match(byId.n2, { type: 'identify', userKey: 'u' })
  t.match(byId.n3, { type: 'pageview', page: 'Home' })
  const withContext = await post(app, '/v1/track', basic(tenant.writeKey), { messageId: 'n5', userId: 'u', event: 'x', context: null })
  t.equal(withContext.statusCode, 200, withContext.body)
})

t.test('the short paths SDKs post to: /v1/b and /v1/import batches, /v1/t, /v1/p, /v1/s, /v1/i, /v1/g, /v1/a calls', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  // analytics-kotlin and -swift: gzip, text/plain, writeKey and sentAt in the body, to /v1/b.
  const mobile = gzipSync(JSON.stringify({ writeKey: tenant.writeKey, sentAt: new Date().toISOString(), batch: [{ type: 'track', messageId: 'short-b', anonymousId: 'a', event: 'Opened' }] }))
  const b = await app.inject({ method: 'POST', url: '/v1/b', headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip', ...basic(tenant.writeKey) }, payload: mobile })
  t.equal(b.statusCode, 200, `/v1/b: ${b.body}`)
  t.match(b.json(), { success: true, accepted: 1 })
  const imported = await post(app, '/v1/import', basic(tenant.writeKey), { batch: [{ type: 'screen', messageId: 'short-import', userId: 'u', name: 'Home' }] })
  t.equal(imported.statusCode, 200, `/v1/import: ${imported.body}`)
  // analytics.js: one call per request to the type's initial, writeKey in the body, text/plain.
  const calls: Array<[string, Record<string, unknown>]> = [
    ['t', { event: 'Clicked' }],
    ['p', { properties: { path: '/short' } }],
    ['s', { name: 'Settings' }],
    ['i', { traits: { plan: 'pro' } }],
    ['g', { groupId: 'g1' }],
    ['a', { previousId: 'old' }],
  ]
  for (const [initial, fields] of calls) {
    const res = await post(app, `/v1/${initial}`, {}, JSON.stringify({ writeKey: tenant.writeKey, messageId: `short-${initial}`, userId: 'u', ...fields }), 'text/plain')
    t.equal(res.statusCode, 200, `/v1/${initial}: ${res.body}`)
  }
  const byId = Object.fromEntries((await storedEvents(redis, config.STREAM_SHARDS)).map((e) => [e.eventId, e]))
  t.match(byId['short-b'], { type: 'action', action: 'Opened' })
  t.match(byId['short-import'], { type: 'screen', page: 'Home' })
  t.match(byId['short-t'], { type: 'action', action: 'Clicked' })
  t.match(byId['short-p'], { type: 'pageview', page: '/short' })
  t.match(byId['short-s'], { type: 'screen', page: 'Settings' })
  t.match(byId['short-i'], { type: 'identify' })
  t.match(byId['short-g'], { type: 'group' })
  t.match(byId['short-a'], { type: 'alias' })
  t.equal((await post(app, '/v1/x', basic(tenant.writeKey), { event: 'E', userId: 'u' })).statusCode, 404, 'an initial of no type is not a route')
})

t.test("a Segment batch is bounded by size, not by the native API's 1,000 events: 2,500 small messages go in whole", async (t) => {
  const { app, tenant, redis, config } = await build(t)
  const message = (i: number) => ({ type: 'track', messageId: `many-${i}`, userId: 'u', event: 'E' })
  const res = await post(app, '/v1/batch', basic(tenant.writeKey), { batch: Array.from({ length: 2_500 }, (_, i) => message(i)) })
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  t.match(res.json(), { success: true, accepted: 2_500, errors: [] })
  t.equal((await storedEvents(redis, config.STREAM_SHARDS)).length, 2_500, 'all stored')
  const tooMany = await post(app, '/v1/batch', basic(tenant.writeKey), { batch: Array.from({ length: 10_001 }, (_, i) => ({ type: 'track', messageId: `m${i}`, userId: 'u', event: 'E' })) })
  t.equal(tooMany.statusCode, 400, 'past 10,000 messages, refused')
  t.equal(tooMany.json().code, 'validation_failed')
})

t.test('Segment routes take text/plain (analytics.js) and no content type at all', async (t) => {
  const { app, tenant } = await build(t)
  const asText = await post(app, '/v1/track', basic(tenant.writeKey), JSON.stringify({ userId: 'u', event: 'E', messageId: 'tp' }), 'text/plain')
  t.equal(asText.statusCode, 200, asText.body)
  const none = await app.inject({ method: 'POST', url: '/v1/track', headers: basic(tenant.writeKey), payload: JSON.stringify({ userId: 'u', event: 'E', messageId: 'nct' }) })
  t.equal(none.statusCode, 200, none.body)
})

t.test('Segment auth: Basic, Bearer, body writeKey; wrong or missing keys refused without side effects', async (t) => {
  const { app, tenant, redis } = await build(t)
  const message = { userId: 'u', event: 'E' }
  t.equal((await post(app, '/v1/track', { authorization: `Bearer ${tenant.writeKey}` }, message)).statusCode, 200)
  const before = await redisState(redis)
  const cases: Array<[Record<string, string>, unknown, number, string]> = [
    [{}, message, 401, 'unauthorized'],
    [basic('wk_doesnotexist0000000000000000000000'), message, 401, 'unauthorized'],
    [{}, { ...message, writeKey: 'wk_nope' }, 401, 'unauthorized'],
    [basic(tenant.readKey), message, 403, 'forbidden_key_kind'],
    [{}, { ...message, writeKey: tenant.readKey }, 403, 'forbidden_key_kind'],
  ]
  for (const [headers, body, status, code] of cases) {
    const res = await post(app, '/v1/track', headers, body)
    t.equal(res.statusCode, status, JSON.stringify(headers))
    t.equal(res.json().code, code)
  }
  t.same(await redisState(redis), before)
})

t.test('a Segment message claiming another tenant is refused', async (t) => {
  const { app, tenant, redis } = await build(t)
  const before = await redisState(redis)
  const res = await post(app, '/v1/batch', basic(tenant.writeKey), { batch: [{ type: 'track', userId: 'u', event: 'E', tenantId: '00000000-0000-7000-8000-000000000000' }] })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'tenant_mismatch')
  t.same(await redisState(redis), before)
})

t.test('a page cut at 2,048 characters never keeps half of a character, and does not sink the requests sharing its Redis call', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  const auth = basic(tenant.writeKey)
  // The emoji's two UTF-16 units sit at 2,047 and 2,048: a plain slice would keep the first.
  const path = '/' + 'a'.repeat(2046) + '😀' + '/rest'
  const [cut, other] = await Promise.all([
    post(app, '/v1/page', auth, { messageId: 'm-long', anonymousId: 'anon', properties: { path } }),
    post(app, '/v1/page', auth, { messageId: 'm-short', anonymousId: 'anon', properties: { path: '/short' } }),
  ])
  t.equal(cut.statusCode, 200, cut.body)
  t.equal(other.statusCode, 200, other.body)
  const byId = Object.fromEntries((await storedEvents(redis, config.STREAM_SHARDS)).map((e) => [e.eventId, e]))
  t.equal(byId['m-long']?.page, '/' + 'a'.repeat(2046), 'cut before the emoji')
  t.notMatch(byId['m-long']?.page ?? '', /[\ud800-\udfff]/, 'no lone surrogate')
  t.equal(byId['m-short']?.page, '/short')
})
