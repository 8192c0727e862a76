import t from 'tap'
import { Analytics as SegmentAnalytics } from '@segment/analytics-node'
import LegacyAnalytics from 'analytics-node'
import RudderAnalytics from '@rudderstack/rudder-sdk-node'
import { build, storedEvents } from './fixtures/build.ts'

/**
 * Popular Segment-spec SDKs, unmodified, pointed at a real listening ingest server: what
 * they send must be accepted and stored as the same events.
 */
async function listening(t: Parameters<typeof build>[0]) {
  const ctx = await build(t)
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as { port: number }
  const requests: Array<{ url?: string; headers: Record<string, unknown> }> = []
  ctx.app.server.prependListener('request', (req: { url?: string; headers: Record<string, unknown> }) => requests.push({ url: req.url, headers: req.headers }))
  return { ...ctx, base: `http://127.0.0.1:${port}`, requests }
}

async function waitForEvents(read: () => Promise<unknown[]>, count: number) {
  for (let i = 0; i < 100; i++) {
    const events = await read()
    if (events.length >= count) return events
    await new Promise((r) => setTimeout(r, 50))
  }
  return read()
}

t.test('@segment/analytics-node', async (t) => {
  const { base, tenant, redis, config, requests } = await listening(t)
  const analytics = new SegmentAnalytics({ writeKey: tenant.writeKey, host: base, flushAt: 10, maxRetries: 0 })
  const failures: unknown[] = []
  analytics.on('error', (err) => failures.push(err))
  analytics.track({ userId: 'seg-user', event: 'Signed Up', properties: { plan: 'pro' } })
  analytics.page({ anonymousId: 'seg-anon', name: 'Docs', properties: { path: '/docs' } })
  analytics.identify({ userId: 'seg-user', traits: { email: 'x@example.com' } })
  analytics.screen({ userId: 'seg-user', name: 'Home' })
  analytics.group({ userId: 'seg-user', groupId: 'g' })
  analytics.alias({ userId: 'seg-user', previousId: 'seg-anon' })
  await analytics.closeAndFlush({ timeout: 10_000 })
  t.same(failures, [], 'the SDK reported no delivery error')
  const events = await storedEvents(redis, config.STREAM_SHARDS)
  t.same(events.map((e) => e.type).sort(), ['action', 'alias', 'group', 'identify', 'pageview', 'screen'])
  t.match(events.find((e) => e.type === 'action'), { action: 'Signed Up', userId: 'seg-user', metadata: { properties: { plan: 'pro' }, context: { library: { name: '@segment/analytics-node' } } } })
  t.match(events.find((e) => e.type === 'pageview'), { page: '/docs', anonymousId: 'seg-anon' })
  t.ok(events.every((e) => /^[\w-]+$/.test(e.eventId)), 'the SDK’s messageIds are the event ids')
  t.match(requests[0], { url: '/v1/batch', headers: { authorization: /^Basic / } })
})

t.test('analytics-node (the classic Segment SDK)', async (t) => {
  const { base, tenant, redis, config } = await listening(t)
  const analytics = new LegacyAnalytics(tenant.writeKey, { host: base, flushAt: 20, enable: true, retryCount: 0 } as never)
  analytics.track({ userId: 'classic', event: 'Clicked', properties: { button: 'buy' } })
  analytics.page({ userId: 'classic', name: 'Checkout', properties: { path: '/checkout' } })
  await new Promise<void>((resolve, reject) => analytics.flush((err: unknown) => (err ? reject(err) : resolve())))
  const events = await storedEvents(redis, config.STREAM_SHARDS)
  t.same(events.map((e) => e.type).sort(), ['action', 'pageview'])
  t.match(events.find((e) => e.type === 'action'), { action: 'Clicked', userKey: 'classic' })
})

t.test('@rudderstack/rudder-sdk-node (gzip bodies)', async (t) => {
  const { base, tenant, redis, config, requests } = await listening(t)
  const analytics = new RudderAnalytics(tenant.writeKey, { dataPlaneUrl: base, flushAt: 20, gzip: true, retryCount: 0 } as never)
  analytics.track({ userId: 'rudder', event: 'Played', properties: { song: 'x' } })
  analytics.page({ anonymousId: 'rudder-anon', name: 'Player', properties: { path: '/player' } })
  await new Promise<void>((resolve, reject) => analytics.flush((err: unknown) => (err ? reject(err) : resolve())))
  const events = (await waitForEvents(() => storedEvents(redis, config.STREAM_SHARDS), 2)) as Awaited<ReturnType<typeof storedEvents>>
  t.same(events.map((e) => e.type).sort(), ['action', 'pageview'])
  t.match(events.find((e) => e.type === 'pageview'), { page: '/player', anonymousId: 'rudder-anon' })
  t.match(requests, [{ url: '/v1/batch', headers: { 'content-encoding': 'gzip' } }], 'it really sent gzip')
})
