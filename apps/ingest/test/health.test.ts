import t from 'tap'
import { build } from './fixtures/build.ts'

t.test('/healthz answers while alive', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('/readyz is 200 with both dependencies up, 503 naming the one that is down', async (t) => {
  const { app } = await build(t)
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { ready: true, checks: { redis: { ok: true }, postgres: { ok: true } } })

  app.redis.disconnect()
  const down = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(down.statusCode, 503)
  t.match(down.json(), { ready: false, checks: { redis: { ok: false, error: String }, postgres: { ok: true } } })
})
