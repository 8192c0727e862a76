import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import fc from 'fast-check'
import { SEGMENT_TYPES } from '@tributary/shared'
import { build, redisState } from './fixtures/build.ts'

/**
 * Property-based fuzzing of every ingestion route. Oracle: never a 5xx; a 4xx carries a
 * code and leaves Redis and Postgres exactly as they were (ingest writes Postgres only
 * through the worker today; the check keeps it so); and the process keeps its memory
 * (the heap after a full GC does not grow with the number of requests served).
 */
const anyJson = fc.jsonValue({ maxDepth: 6 })
const timestamp = fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 30 }), fc.integer())
const recent = fc.integer({ min: 0, max: 3_600_000 }).map((ago) => new Date(Date.now() - ago).toISOString())
const eventLike = fc.record(
  {
    eventId: fc.oneof(fc.string({ maxLength: 300 }), fc.uuid(), fc.integer()),
    type: fc.oneof(fc.constantFrom('pageview', 'action', 'signup'), fc.string({ maxLength: 210 }), fc.integer()),
    userId: fc.oneof(fc.string({ maxLength: 260 }), fc.integer(), fc.constant(null)),
    anonymousId: fc.string({ maxLength: 40 }),
    sessionId: fc.oneof(fc.string({ maxLength: 300 }), fc.uuid()),
    page: fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'binary', maxLength: 20 })),
    action: fc.string({ maxLength: 210 }),
    metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 140 }), anyJson, { maxKeys: 5 }), anyJson),
    timestamp,
    tenantId: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })),
    extra: anyJson,
  },
  { requiredKeys: [] },
)
// Well-formed ones too, so that accepted requests (and their side effects) are part of every run.
const goodEvent = fc.record({
  eventId: fc.uuid(),
  type: fc.constantFrom('pageview', 'action'),
  page: fc.constantFrom('/', '/pricing', '/a/b?c=d'),
  action: fc.constantFrom('click', 'signup'),
  anonymousId: fc.string({ minLength: 1, maxLength: 20 }).map((s) => `v-${encodeURIComponent(s)}`),
  timestamp: recent,
})
const nativeBody = fc.oneof(
  anyJson,
  eventLike,
  fc.record({ events: fc.array(eventLike, { maxLength: 8 }), sentAt: timestamp }, { requiredKeys: [] }),
  fc.record({ events: fc.array(fc.oneof(goodEvent, goodEvent, eventLike), { minLength: 1, maxLength: 8 }) }),
  { arbitrary: fc.record({ events: fc.array(goodEvent, { minLength: 1, maxLength: 8 }) }), weight: 2 },
)
const sessionStart = fc.oneof(
  anyJson,
  fc.record({ anonymousId: fc.uuid(), device: fc.constantFrom('iPhone', 'Pixel'), referrer: fc.webUrl() }, { requiredKeys: ['anonymousId'] }),
  fc.record(
    {
      sessionId: fc.oneof(fc.string({ maxLength: 300 }), fc.uuid()),
      userId: fc.oneof(fc.string({ maxLength: 260 }), fc.integer()),
      anonymousId: fc.string({ maxLength: 40 }),
      device: fc.oneof(fc.string({ maxLength: 300 }), anyJson),
      platform: fc.string({ maxLength: 40 }),
      referrer: fc.string({ maxLength: 3000 }),
      timestamp,
      sentAt: timestamp,
      extra: anyJson,
    },
    { requiredKeys: [] },
  ),
)
const sessionPing = fc.oneof(anyJson, fc.record({ timestamp: recent }, { requiredKeys: [] }), fc.record({ timestamp, sentAt: timestamp, extra: anyJson }, { requiredKeys: [] }))
const segmentMessage = fc.record(
  {
    type: fc.oneof(fc.constantFrom(...SEGMENT_TYPES, 'nope'), fc.string({ maxLength: 20 })),
    userId: fc.oneof(fc.string({ maxLength: 300 }), fc.integer()),
    anonymousId: fc.string({ maxLength: 40 }),
    event: fc.string({ maxLength: 210 }),
    name: fc.string({ maxLength: 210 }),
    properties: anyJson,
    traits: anyJson,
    context: anyJson,
    messageId: fc.oneof(fc.string({ maxLength: 300 }), fc.uuid()),
    timestamp,
  },
  { requiredKeys: [] },
)
const goodSegmentMessage = fc.record({ type: fc.constant('track'), event: fc.constantFrom('Signed Up', 'Clicked'), userId: fc.uuid(), messageId: fc.uuid(), timestamp: recent })
const segmentBatch = fc.oneof(anyJson, fc.record({ batch: fc.array(fc.oneof(goodSegmentMessage, segmentMessage), { minLength: 1, maxLength: 6 }) }), fc.record({ batch: fc.array(fc.oneof(anyJson, segmentMessage), { maxLength: 6 }), context: anyJson, sentAt: timestamp }, { requiredKeys: [] }))
// A path segment a client could send: ids, traversal, encoded control characters, very long ones.
// Heartbeats and ends for sessions the test starts first are accepted; others are a 404.
const STARTED_SESSIONS = ['0190a5e4-1c2d-7a3b-8c4d-5e6f70819201', '0190a5e4-1c2d-7a3b-8c4d-5e6f70819202', '0190a5e4-1c2d-7a3b-8c4d-5e6f70819203']
const sessionPathId = fc.oneof(fc.constantFrom(...STARTED_SESSIONS), fc.constantFrom(...STARTED_SESSIONS), fc.uuid(), fc.string({ minLength: 1, maxLength: 300 }).map(encodeURIComponent), fc.constantFrom('..', '%00', '%2F', 'a'.repeat(2_000)))

interface Request {
  url: string
  body: string | Buffer
  headers: Record<string, string>
}
const json = (url: string, value: unknown, contentType = 'application/json'): Request => ({ url, body: JSON.stringify(value) ?? 'null', headers: { 'content-type': contentType } })

/** One arbitrary request per ingestion route; the table is the list of routes fuzzed. */
const routes: Record<string, fc.Arbitrary<Request>> = {
  'POST /api/v2/analytics/events': nativeBody.map((b) => json('/api/v2/analytics/events', b)),
  'POST /api/v2/analytics/events (gzip, any bytes)': fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ url: '/api/v2/analytics/events', body: Buffer.from(bytes), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })),
    nativeBody.map((b) => ({ url: '/api/v2/analytics/events', body: gzipSync(JSON.stringify(b) ?? 'null'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })),
  ),
  'POST /api/v2/analytics/sessions': sessionStart.map((b) => json('/api/v2/analytics/sessions', b)),
  'POST /api/v2/analytics/sessions/:id/heartbeat and /end': fc.tuple(sessionPathId, fc.constantFrom('heartbeat', 'end'), sessionPing).map(([id, op, b]) => json(`/api/v2/analytics/sessions/${id}/${op}`, b)),
  'POST /v1/batch': segmentBatch.map((b) => json('/v1/batch', b, 'text/plain')),
  'POST /v1/{track,page,screen,identify,…}': fc.oneof(
    fc.tuple(fc.constantFrom(...SEGMENT_TYPES), fc.oneof(anyJson, segmentMessage)).map(([type, b]) => json(`/v1/${type}`, b, 'text/plain')),
    goodSegmentMessage.map((b) => json('/v1/track', b, 'text/plain')),
  ),
}

const RUNS = 120

t.test('every ingestion route: never a 5xx, and a 4xx carries a code and changes neither Redis nor Postgres', async (t) => {
  const { app, write, redis, database } = await build(t)
  const tables = (await database.sql<Array<{ name: string }>>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`).map((r) => r.name)
  // Row counts and the latest change of every table: a refused request must not touch any of them.
  const postgresState = async () => JSON.stringify(await Promise.all(tables.map(async (name) => [name, (await database.sql.unsafe(`select count(*)::int as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as h from "${name}" t`))[0]])))
  for (const [route, request] of Object.entries(routes)) {
    // Each route starts from a small Redis, so comparing all of it before and after stays cheap.
    await redis.flushdb()
    for (const sessionId of STARTED_SESSIONS) {
      const started = await app.inject({ method: 'POST', url: '/api/v2/analytics/sessions', headers: write, payload: { sessionId, anonymousId: 'fuzz' } })
      t.equal(started.statusCode, 201, `session ${sessionId} started`)
    }
    const outcomes: Record<string, number> = {}
    await fc.assert(
      fc.asyncProperty(request, async ({ url, body, headers }) => {
        const [redisBefore, postgresBefore] = await Promise.all([redisState(redis), postgresState()])
        const res = await app.inject({ method: 'POST', url, headers: { ...write, ...headers }, payload: body })
        outcomes[res.statusCode] = (outcomes[res.statusCode] ?? 0) + 1
        const shown = `${url} ${String(body).slice(0, 200)}`
        if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${shown}: ${res.body}`)
        if (res.statusCode >= 400) {
          if (typeof res.json().code !== 'string') throw new Error(`a ${res.statusCode} without a code for ${shown}`)
          if (JSON.stringify(await redisState(redis)) !== JSON.stringify(redisBefore)) throw new Error(`a ${res.statusCode} changed Redis for ${shown}`)
          if ((await postgresState()) !== postgresBefore) throw new Error(`a ${res.statusCode} changed Postgres for ${shown}`)
        }
      }),
      { numRuns: RUNS },
    )
    const accepted = Object.entries(outcomes).filter(([status]) => Number(status) < 300).reduce((n, [, c]) => n + c, 0)
    const refused = Object.entries(outcomes).filter(([status]) => Number(status) >= 400).reduce((n, [, c]) => n + c, 0)
    // Both sides of the oracle were exercised: some bodies accepted, some refused.
    t.ok(accepted > 0 && refused > 0, `${route}: ${RUNS} requests, no 5xx, no side effect on refusal (statuses ${JSON.stringify(outcomes)})`)
  }
})

t.test('the process keeps its memory: the heap after GC does not grow with the requests served (10,000 more after 5,000 to warm up)', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const { app, write } = await build(t, { RATE_LIMIT_EVENTS_PER_SECOND: '0' })
  const mixed = fc.oneof(...Object.values(routes))
  const serve = async (count: number) => {
    for (const { url, body, headers } of fc.sample(mixed, count)) {
      const res = await app.inject({ method: 'POST', url, headers: { ...write, ...headers }, payload: body })
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${url}`)
    }
  }
  const heapAfterGc = () => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  }
  // Warm-up: compiled validators, bounded caches and pools reach their working size (measured
  // here: the heap settles ~2.5 MB up after the first few thousand requests, then stays
  // within ±1 MB of that up to 40,000).
  await serve(5_000)
  const before = heapAfterGc()
  await serve(10_000)
  const after = heapAfterGc()
  const growthMb = (after - before) / 1_048_576
  // A leak of even 300 bytes per request would add 3 MB over 10,000 requests.
  t.ok(growthMb < 3, `heap after GC ${(before / 1_048_576).toFixed(1)} MB → ${(after / 1_048_576).toFixed(1)} MB after 10,000 more requests (${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(2)} MB)`)
})
