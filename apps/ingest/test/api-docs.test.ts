import t from 'tap'
import { build } from './fixtures/build.ts'

t.test('OpenAPI at /docs/json covers every route, with auth schemes and examples; the UI at /docs', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const spec = res.json()
  t.match(spec, { openapi: /^3\./, info: { title: 'Tributary ingest API' }, components: { securitySchemes: { writeKey: {}, readKey: {}, segmentBasic: {} } } })
  const paths = Object.keys(spec.paths)
  for (const path of [
    '/api/v2/analytics/events',
    '/api/v2/analytics/sessions',
    '/api/v2/analytics/sessions/{sessionId}/heartbeat',
    '/api/v2/analytics/sessions/{sessionId}/end',
    '/v1/batch',
    '/v1/track',
    '/v1/page',
    '/v1/screen',
    '/v1/identify',
    '/v1/group',
    '/v1/alias',
    '/api/v2/analytics/historical',
    '/api/v2/analytics/historical/pages',
    '/api/v2/analytics/historical/events',
    '/api/v2/analytics/realtime',
    '/api/v2/analytics/sync',
  ]) {
    t.ok(paths.includes(path), path)
  }
  const events = spec.paths['/api/v2/analytics/events'].post
  t.match(events, { tags: ['Ingestion'], security: [{ writeKey: [] }], responses: { 202: {}, 400: {}, 401: {}, 429: {}, 503: {} } })
  t.match(JSON.stringify(events.requestBody), /pricing/, 'an example body')
  t.match(spec.paths['/api/v2/analytics/historical'].get, { tags: ['Dashboard reads'], security: [{ readKey: [] }] })
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /swagger/i)
})
