import t from 'tap'
import { build, redisState } from './fixtures/build.ts'

/**
 * reliability.md §8: every bad input gets a 4xx with a stable code and changes nothing in
 * Redis (the rate-limit counter aside). Each row is one request against the same app.
 */
interface Row {
  name: string
  headers?: Record<string, string | undefined>
  url?: string
  body: string | Buffer
  status: number
  code: string
  /** For batches: the per-event code expected at index 0 of `errors`. */
  eventCode?: string
}

const event = (extra: Record<string, unknown> = {}) => ({ type: 'action', action: 'x', userId: 'u', ...extra })
const json = (v: unknown) => JSON.stringify(v)
const segmentTrack = json({ type: 'track', userId: 'u', event: 'E', messageId: 'm1' })
const nested = (depth: number) => '{"type":"a","userId":"u","metadata":{"a":' + '['.repeat(depth) + ']'.repeat(depth) + '}}'

const rows: Row[] = [
  { name: 'no key', headers: { authorization: undefined }, body: json(event()), status: 401, code: 'unauthorized' },
  { name: 'malformed auth header', headers: { authorization: 'Token abc' }, body: json(event()), status: 401, code: 'unauthorized' },
  { name: 'unknown key', headers: { authorization: 'Bearer wk_0000000000000000000000000000000000' }, body: json(event()), status: 401, code: 'unauthorized' },
  { name: 'garbage key', headers: { authorization: 'Bearer ' + 'x'.repeat(5000) }, body: json(event()), status: 401, code: 'unauthorized' },
  { name: 'text/plain on a native route', headers: { 'content-type': 'text/plain' }, body: json(event()), status: 415, code: 'unsupported_media_type' },
  { name: 'multipart', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--', status: 415, code: 'unsupported_media_type' },
  { name: 'no content type', headers: { 'content-type': undefined }, body: json(event()), status: 415, code: 'unsupported_media_type' },
  { name: 'malformed JSON', body: '{"type": ', status: 400, code: 'invalid_json' },
  { name: 'trailing garbage', body: json(event()) + 'garbage', status: 400, code: 'invalid_json' },
  { name: 'empty body', body: '', status: 400, code: 'empty_body' },
  { name: 'top-level scalar', body: '42', status: 400, code: 'validation_failed' },
  { name: 'top-level array', body: json([event()]), status: 400, code: 'validation_failed' },
  { name: '__proto__ at the top', body: '{"__proto__":{"isAdmin":true},"type":"a","userId":"u"}', status: 400, code: 'forbidden_property' },
  { name: '__proto__ inside metadata', body: '{"type":"a","userId":"u","metadata":{"x":{"__proto__":{"polluted":1}}}}', status: 400, code: 'forbidden_property' },
  { name: 'constructor.prototype', body: '{"type":"a","userId":"u","metadata":{"constructor":{"prototype":{"bad":1}}}}', status: 400, code: 'forbidden_property' },
  { name: 'deep nesting (10,000 levels in 20 KB)', body: nested(10_000), status: 400, code: 'no_valid_events', eventCode: 'depth_exceeded' },
  { name: 'nesting just past the limit', body: nested(9), status: 400, code: 'no_valid_events', eventCode: 'depth_exceeded' },
  { name: 'unknown event field', body: json(event({ evil: 1 })), status: 400, code: 'no_valid_events', eventCode: 'unknown_field' },
  { name: 'unknown batch field', body: json({ events: [event()], evil: 1 }), status: 400, code: 'unknown_field' },
  { name: 'timestamp as a number', body: json(event({ timestamp: 123 })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'type as an array', body: json({ type: ['a'], userId: 'u' }), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'userId as a number', body: json(event({ userId: 5 })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'NUL in a string', body: '{"type":"a","userId":"u","metadata":{"note":"a\\u0000b"}}', status: 400, code: 'no_valid_events', eventCode: 'invalid_unicode' },
  { name: 'NUL in a key', body: '{"type":"a","userId":"u","metadata":{"a\\u0000":1}}', status: 400, code: 'no_valid_events', eventCode: 'invalid_unicode' },
  { name: 'lone surrogate', body: '{"type":"a","userId":"u","metadata":{"s":"\\ud800"}}', status: 400, code: 'no_valid_events', eventCode: 'invalid_unicode' },
  { name: 'NUL in the user id', body: '{"type":"a","userId":"u\\u0000"}', status: 400, code: 'no_valid_events', eventCode: 'invalid_unicode' },
  { name: '1e309', body: '{"type":"a","userId":"u","metadata":{"n":1e309}}', status: 400, code: 'no_valid_events', eventCode: 'invalid_number' },
  { name: 'empty event name', body: json(event({ type: '' })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'event name of 201 chars', body: json(event({ type: 'x'.repeat(201) })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'braces in the event name', body: json(event({ type: 'a{0}' })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'control character in the event name', body: json(event({ type: 'a\nb' })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'event id over 255 chars', body: json(event({ eventId: 'e'.repeat(256) })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'metadata with 256 keys', body: json(event({ metadata: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`k${i}`, i])) })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'metadata key of 129 chars', body: json(event({ metadata: { ['k'.repeat(129)]: 1 } })), status: 400, code: 'no_valid_events', eventCode: 'key_too_long' },
  { name: 'nested key of 129 chars', body: json(event({ metadata: { a: { ['k'.repeat(129)]: 1 } } })), status: 400, code: 'no_valid_events', eventCode: 'key_too_long' },
  { name: 'event over 32 KB', body: json(event({ metadata: { pad: 'x'.repeat(33_000) } })), status: 400, code: 'no_valid_events', eventCode: 'event_too_large' },
  { name: 'invalid timestamp date', body: json(event({ timestamp: '2026-02-30T10:00:00Z' })), status: 400, code: 'no_valid_events', eventCode: 'validation_failed' },
  { name: 'timestamp before 2000', body: json(event({ timestamp: '1970-01-01T00:00:00Z' })), status: 400, code: 'no_valid_events', eventCode: 'invalid_timestamp' },
  { name: 'tenant spoofing in the body', body: json(event({ tenantId: '00000000-0000-7000-8000-000000000000' })), status: 403, code: 'tenant_mismatch' },
  { name: 'tenant spoofing in a batch', body: json({ events: [event()], project_id: 'other' }), status: 403, code: 'tenant_mismatch' },
  { name: 'body over the limit', body: json({ events: [event({ metadata: { pad: 'x'.repeat(70_000) } })] }), status: 413, code: 'body_too_large' },
  { name: 'Content-Length lie', headers: { 'content-length': '5' }, body: json(event()), status: 400, code: 'invalid_content_length' },
  { name: 'unknown route', url: '/api/v2/analytics/nope', body: json(event()), status: 404, code: 'not_found' },
  // A Segment batch's context goes into each of its messages that has none, after they were inspected.
  { name: 'NUL in a Segment batch context', url: '/v1/batch', body: '{"batch":[' + segmentTrack + '],"context":{"x":"a\\u0000b"}}', status: 400, code: 'invalid_unicode' },
  { name: 'lone surrogate in a Segment batch context key', url: '/v1/batch', body: '{"batch":[' + segmentTrack + '],"context":{"\\udc00":1}}', status: 400, code: 'invalid_unicode' },
  { name: 'Segment batch context nested too deep', url: '/v1/batch', body: '{"batch":[' + segmentTrack + '],"context":' + '{"a":'.repeat(10) + '1' + '}'.repeat(10) + '}', status: 400, code: 'depth_exceeded' },
  { name: '1e309 in a Segment batch context', url: '/v1/batch', body: '{"batch":[' + segmentTrack + '],"context":{"n":1e309}}', status: 400, code: 'invalid_number' },
]

t.test('every bad input: its 4xx and code, and no side effect', async (t) => {
  const { app, tenant, redis } = await build(t, { BODY_LIMIT_BYTES: '65536' })
  const before = await redisState(redis)
  for (const row of rows) {
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${tenant.writeKey}` }
    for (const [k, v] of Object.entries(row.headers ?? {})) {
      if (v === undefined) delete headers[k]
      else headers[k] = v
    }
    const res = await app.inject({ method: 'POST', url: row.url ?? '/api/v2/analytics/events', headers, payload: row.body })
    t.equal(res.statusCode, row.status, `${row.name}: status`)
    let body: { code?: string; message?: string; errors?: Array<{ code: string }> } = {}
    try {
      body = res.json()
    } catch {
      t.fail(`${row.name}: the answer is JSON (${res.body.slice(0, 80)})`)
    }
    t.equal(body.code, row.code, `${row.name}: code`)
    t.ok(body.message && body.message.length > 10, `${row.name}: a message a person can act on`)
    if (row.eventCode) t.equal(body.errors?.[0]?.code, row.eventCode, `${row.name}: per-event code`)
  }
  t.same(await redisState(redis), before, 'Redis is exactly as it was')
  t.equal(Object.prototype.hasOwnProperty.call({}, 'isAdmin'), false, 'no prototype was polluted')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('the limits themselves are allowed', async (t) => {
  const { app, tenant } = await build(t)
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${tenant.writeKey}` }
  for (const [name, body] of [
    ['8 levels inside metadata', nested(8)],
    ['a 128-character key', json(event({ metadata: { ['k'.repeat(128)]: 1 } }))],
    ['255 metadata keys', json(event({ metadata: Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`k${i}`, i])) }))],
    ['29 February in a leap year', json(event({ timestamp: '2028-02-29T10:00:00+02:00' }))],
  ]) {
    const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers, payload: body! })
    t.equal(res.statusCode, 202, `${name}: ${res.body}`)
  }
})

t.test('a read key cannot ingest (403) and changes nothing', async (t) => {
  const { app, tenant, redis } = await build(t)
  const before = await redisState(redis)
  const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.readKey}` }, payload: event() })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'forbidden_key_kind')
  t.same(await redisState(redis), before)
})

t.test('a revoked key is refused (after the cache TTL)', async (t) => {
  const { app, tenant, database } = await build(t, { KEY_CACHE_TTL_MS: '1' })
  const { revokeKey, displayPrefix } = await import('@tributary/db')
  const ok = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.writeKey}` }, payload: event() })
  t.equal(ok.statusCode, 202)
  await revokeKey(database.db, displayPrefix(tenant.writeKey))
  await new Promise((r) => setTimeout(r, 5))
  const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.writeKey}` }, payload: event() })
  t.equal(res.statusCode, 401)
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
})
