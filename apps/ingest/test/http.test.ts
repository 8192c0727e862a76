import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build, storedEvents } from './fixtures/build.ts'

t.test('over real HTTP: JSON and gzip batches, keep-alive, error bodies', async (t) => {
  const { app, tenant, redis, config } = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}/api/v2/analytics/events`
  const auth = { authorization: `Bearer ${tenant.writeKey}` }
  const batch = (from: number) => ({ events: Array.from({ length: 50 }, (_, i) => ({ eventId: `h${from + i}`, type: 'pageview', page: `/p${i % 5}`, anonymousId: `a${i % 7}` })) })

  const plain = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(batch(0)) })
  t.equal(plain.status, 202)
  t.same(await plain.json(), { accepted: 50, duplicates: 0, errors: [] })

  const zipped = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(batch(50))) })
  t.equal(zipped.status, 202)
  t.equal(((await zipped.json()) as { accepted: number }).accepted, 50)

  const bad = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{' })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { code: 'invalid_json', statusCode: 400 })
  t.match(bad.headers.get('content-type'), /application\/json/)

  t.equal((await storedEvents(redis, config.STREAM_SHARDS)).length, 100)
})
