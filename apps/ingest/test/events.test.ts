import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build, redisState, storedEntries, storedEvents } from './fixtures/build.ts'

const post = (app: Awaited<ReturnType<typeof build>>['app'], headers: Record<string, string>, payload: unknown, extra: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { 'content-type': 'application/json', ...headers, ...extra }, payload: payload as string })

t.test('one event is accepted, normalised and stored with receivedAt', async (t) => {
  const { app, write, redis, tenant, config } = await build(t)
  const res = await post(app, write, { eventId: 'e-1', type: 'pageview', anonymousId: 'a-1', page: '/pricing', metadata: { plan: 'pro' } })
  t.equal(res.statusCode, 202, res.body)
  t.same(res.json(), { accepted: 1, duplicates: 0, errors: [] })
  const entries = await storedEntries(redis, config.STREAM_SHARDS)
  t.equal(entries.length, 1)
  t.match(entries[0], { kind: 'ev', tenantId: tenant.tenantId, receivedAt: Number })
  t.match(entries[0]!.kind === 'ev' && entries[0]!.events[0], { eventId: 'e-1', type: 'pageview', anonymousId: 'a-1', userKey: 'a-1', page: '/pricing', metadata: { plan: 'pro' }, sessionId: /^[0-9a-f-]{36}$/ })
})

t.test('a batch: valid events accepted, bad ones reported by index', async (t) => {
  const { app, write, redis, config } = await build(t)
  const res = await post(app, write, {
    events: [
      { type: 'action', action: 'signup', userId: 'u1' },
      { type: 'pageview', page: '/', anonymousId: 'a', evil: true },
      { type: 'pageview' },
      { type: 'action', userId: 'u1', timestamp: 'yesterday' },
      { type: 'action', userId: 'u2', metadata: 'not-an-object' },
      'not an object',
      { type: 'pageview', page: '/docs', userId: 'u2' },
    ],
  })
  t.equal(res.statusCode, 202, res.body)
  const body = res.json()
  t.equal(body.accepted, 2)
  t.same(body.errors.map((e: { index: number; code: string }) => [e.index, e.code]), [
    [1, 'unknown_field'],
    [2, 'missing_identity'],
    [3, 'validation_failed'],
    [4, 'validation_failed'],
    [5, 'validation_failed'],
  ])
  t.match(body.errors[0].message, /unknown field "evil"/)
  const stored = await storedEvents(redis, config.STREAM_SHARDS)
  t.same(stored.map((e) => e.type).sort(), ['action', 'pageview'])
})

t.test('resending accepted events changes nothing and counts them as duplicates', async (t) => {
  const { app, write, redis } = await build(t)
  const batch = { events: [{ eventId: 'x1', type: 'pageview', page: '/', anonymousId: 'a' }, { eventId: 'x2', type: 'action', action: 'buy', anonymousId: 'a' }] }
  t.same((await post(app, write, batch)).json(), { accepted: 2, duplicates: 0, errors: [] })
  const before = await redisState(redis)
  const again = await post(app, write, batch)
  t.equal(again.statusCode, 202)
  t.same(again.json(), { accepted: 0, duplicates: 2, errors: [] })
  t.same(await redisState(redis), before, 'no stream entry, no counter, no session moved')

  const mixed = await post(app, write, { events: [{ eventId: 'x1', type: 'pageview', page: '/', anonymousId: 'a' }, { eventId: 'x3', type: 'pageview', page: '/', anonymousId: 'a' }, { eventId: 'x3', type: 'pageview', page: '/', anonymousId: 'a' }] })
  t.same(mixed.json(), { accepted: 1, duplicates: 2, errors: [] }, 'a repeat inside one batch is a duplicate too')
})

t.test('an event id is a duplicate for the whole de-duplication window, across its seen sets, and forgotten after', async (t) => {
  // A 3 s window keeps ids in 1 s sets; the resends land in later sets than the first send.
  const { app, write } = await build(t, { DEDUP_WINDOW_SECONDS: '3' })
  const event = (id: string) => ({ eventId: id, type: 'pageview', page: '/', anonymousId: 'a' })
  t.same((await post(app, write, event('w1'))).json(), { accepted: 1, duplicates: 0, errors: [] })
  await new Promise((resolve) => setTimeout(resolve, 1_200))
  t.same((await post(app, write, { events: [event('w1'), event('w2')] })).json(), { accepted: 1, duplicates: 1, errors: [] }, 'one set later')
  await new Promise((resolve) => setTimeout(resolve, 1_600))
  t.same((await post(app, write, { events: [event('w1'), event('w2')] })).json(), { accepted: 0, duplicates: 2, errors: [] }, '2.8 s after the first send: still inside the window')
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  t.same((await post(app, write, event('w1'))).json(), { accepted: 1, duplicates: 0, errors: [] }, '4.3 s after: past the window and its last set, so accepted again')
})

t.test('the same event id in two tenants is two events', async (t) => {
  const { app, write, database, redis, config } = await build(t)
  const { createTenant } = await import('@tributary/db')
  const other = await createTenant(database.db, 'other')
  const event = { eventId: 'shared-id', type: 'pageview', page: '/', anonymousId: 'a' }
  t.same((await post(app, write, event)).json(), { accepted: 1, duplicates: 0, errors: [] })
  t.same((await post(app, { authorization: `Bearer ${other.writeKey}` }, event)).json(), { accepted: 1, duplicates: 0, errors: [] })
  t.equal((await storedEvents(redis, config.STREAM_SHARDS)).length, 2)
})

t.test('clock skew is corrected with sentAt; far-future timestamps are clamped', async (t) => {
  const { app, write, redis, config } = await build(t)
  const clientNow = Date.now() + 2 * 3_600_000 // the client's clock runs two hours fast
  const before = Date.now()
  const res = await post(app, write, {
    sentAt: new Date(clientNow).toISOString(),
    events: [{ eventId: 'skewed', type: 'pageview', page: '/', anonymousId: 'a', timestamp: new Date(clientNow - 60_000).toISOString() }],
  })
  t.equal(res.statusCode, 202, res.body)
  const future = await post(app, write, { eventId: 'future', type: 'pageview', page: '/', anonymousId: 'a', timestamp: new Date(Date.now() + 3 * 86_400_000).toISOString() })
  t.equal(future.statusCode, 202)
  const after = Date.now()
  const stored = Object.fromEntries((await storedEntries(redis, config.STREAM_SHARDS)).flatMap((e) => (e.kind === 'ev' ? e.events.map((ev) => [ev.eventId, { ev, receivedAt: e.receivedAt }]) : [])))
  const skewed = stored.skewed!
  t.ok(Math.abs(skewed.receivedAt - 60_000 - skewed.ev.occurredAt) < 5, 'one minute before it was received')
  t.ok(stored.future!.ev.occurredAt >= before && stored.future!.ev.occurredAt <= after, 'clamped to receivedAt')
  t.equal(stored.future!.ev.occurredAt, stored.future!.receivedAt)
})

t.test('gzip bodies are accepted; the size limit applies to the decompressed body', async (t) => {
  const { app, write, redis } = await build(t, { BODY_LIMIT_BYTES: '65536' })
  const events = Array.from({ length: 20 }, (_, i) => ({ eventId: `g${i}`, type: 'pageview', page: `/p/${i}`, anonymousId: 'a' }))
  const ok = await post(app, write, gzipSync(JSON.stringify({ events })) as unknown as string, { 'content-encoding': 'gzip' })
  t.equal(ok.statusCode, 202, ok.body)
  t.equal(ok.json().accepted, 20)

  const before = await redisState(redis)
  const bomb = gzipSync(JSON.stringify({ events: [{ type: 'pageview', anonymousId: 'a', metadata: { pad: 'x'.repeat(5_000_000) } }] }))
  t.ok(bomb.length < 20_000, `the bomb is small on the wire (${bomb.length} bytes)`)
  const res = await post(app, write, bomb as unknown as string, { 'content-encoding': 'gzip' })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'body_too_large')

  const broken = await post(app, write, 'definitely not gzip', { 'content-encoding': 'gzip' })
  t.equal(broken.statusCode, 400)
  t.equal(broken.json().code, 'invalid_compressed_body')
  const brotli = await post(app, write, 'x', { 'content-encoding': 'br' })
  t.equal(brotli.statusCode, 415)
  t.equal(brotli.json().code, 'unsupported_encoding')
  t.same(await redisState(redis), before, 'refused bodies changed nothing')
})

t.test('per-event size limit and batch size limits', async (t) => {
  const { app, write, redis } = await build(t)
  const res = await post(app, write, { events: [{ type: 'action', userId: 'u', metadata: { big: 'x'.repeat(40_000) } }, { type: 'action', action: 'ok', userId: 'u' }] })
  t.equal(res.statusCode, 202)
  t.match(res.json(), { accepted: 1, errors: [{ index: 0, code: 'event_too_large' }] })

  const before = await redisState(redis)
  const empty = await post(app, write, { events: [] })
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().code, 'empty_batch')
  const tooMany = await post(app, write, { events: Array.from({ length: 1001 }, () => ({ type: 'a', userId: 'u' })) })
  t.equal(tooMany.statusCode, 400)
  t.equal(tooMany.json().code, 'batch_too_large')
  const allBad = await post(app, write, { events: [{ type: 'pageview' }, { nope: 1 }] })
  t.equal(allBad.statusCode, 400)
  t.match(allBad.json(), { code: 'no_valid_events', errors: [{ index: 0 }, { index: 1 }] })
  t.same(await redisState(redis), before)
})

t.test('concurrent requests share script calls but keep their own answers', async (t) => {
  const { app, write, database, redis, config } = await build(t)
  const { createTenant } = await import('@tributary/db')
  const other = await createTenant(database.db, 'other')
  const otherAuth = { authorization: `Bearer ${other.writeKey}` }
  // 60 requests at once; ids repeat across requests of a tenant (a client retrying in parallel).
  const requests = Array.from({ length: 60 }, (_, i) =>
    post(app, i % 2 ? write : otherAuth, { events: [{ eventId: `c${i % 20}`, type: 'pageview', page: '/', anonymousId: 'a' }, { eventId: `u${i}`, type: 'action', action: 'x', anonymousId: 'a' }] }),
  )
  const bodies = (await Promise.all(requests)).map((r) => r.json() as { accepted: number; duplicates: number })
  const total = bodies.reduce((acc, b) => ({ accepted: acc.accepted + b.accepted, duplicates: acc.duplicates + b.duplicates }), { accepted: 0, duplicates: 0 })
  // Per tenant: 10 distinct c-ids (30 requests, i%20 with one parity) + 30 unique u-ids.
  t.same(total, { accepted: 80, duplicates: 40 })
  const stored = await storedEvents(redis, config.STREAM_SHARDS)
  t.equal(stored.length, 80, 'every accepted event stored once')
})
