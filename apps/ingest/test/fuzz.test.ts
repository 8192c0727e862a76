import t from 'tap'
import fc from 'fast-check'
import { build, redisState } from './fixtures/build.ts'

/**
 * Property-based fuzzing of the ingestion routes. Oracle: never a 5xx; a 4xx leaves Redis
 * exactly as it was; a 2xx only ever for a body that carried at least one acceptable event.
 */
const anyJson = fc.jsonValue({ maxDepth: 6 })
const eventLike = fc.record(
  {
    eventId: fc.oneof(fc.string({ maxLength: 300 }), fc.uuid(), fc.integer()),
    type: fc.oneof(fc.constantFrom('pageview', 'action', 'signup'), fc.string({ maxLength: 210 }), fc.integer()),
    userId: fc.oneof(fc.string({ maxLength: 260 }), fc.integer(), fc.constant(null)),
    anonymousId: fc.string({ maxLength: 40 }),
    page: fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'binary', maxLength: 20 })),
    metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 140 }), anyJson, { maxKeys: 5 }), anyJson),
    timestamp: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 30 })),
    extra: anyJson,
  },
  { requiredKeys: [] },
)
const body = fc.oneof(anyJson, eventLike, fc.record({ events: fc.array(eventLike, { maxLength: 8 }), sentAt: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())) }, { requiredKeys: [] }))

t.test('native events route: never a 5xx, and a 4xx changes nothing', async (t) => {
  const { app, write, redis } = await build(t)
  let seen = 0
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const before = await redisState(redis)
      const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { ...write, 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
      seen++
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(payload).slice(0, 200)}: ${res.body}`)
      if (res.statusCode >= 400) {
        if (JSON.stringify(await redisState(redis)) !== JSON.stringify(before)) throw new Error(`a ${res.statusCode} changed Redis for ${JSON.stringify(payload).slice(0, 200)}`)
        if (typeof res.json().code !== 'string') throw new Error('no code')
      }
    }),
    { numRuns: 150 },
  )
  t.equal(seen, 150)
})

t.test('Segment batch route: never a 5xx, and a 4xx changes nothing', async (t) => {
  const { app, write, redis } = await build(t)
  const segmentish = fc.record({ batch: fc.array(fc.oneof(anyJson, fc.record({ type: fc.constantFrom('track', 'page', 'identify', 'nope'), userId: fc.oneof(fc.string({ maxLength: 20 }), fc.integer()), event: fc.string({ maxLength: 20 }), properties: anyJson, messageId: fc.string({ maxLength: 40 }) }, { requiredKeys: [] })), { maxLength: 6 }), context: anyJson }, { requiredKeys: [] })
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyJson, segmentish), async (payload) => {
      const before = await redisState(redis)
      const res = await app.inject({ method: 'POST', url: '/v1/batch', headers: { ...write, 'content-type': 'text/plain' }, payload: JSON.stringify(payload) })
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${JSON.stringify(payload).slice(0, 200)}: ${res.body}`)
      if (res.statusCode >= 400 && JSON.stringify(await redisState(redis)) !== JSON.stringify(before)) throw new Error(`a ${res.statusCode} changed Redis`)
    }),
    { numRuns: 150 },
  )
  t.pass('150 bodies, no 5xx, no side effect on refusal')
})
