import t from 'tap'
import { pino } from 'pino'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { jsonLines, testRedis } from '@tributary/servers'
import { REDACT_PATHS } from '@tributary/shared'
import { buildApp } from '../src/app.ts'
import { loadIngestConfig } from '../src/config.ts'

t.test('one line per request, 4xx at warn, health at debug, keys never logged', async (t) => {
  const database = await testDatabase(t)
  const redis = await testRedis(t)
  const tenant = await createTenant(database.db, 'acme')
  const { sink, lines } = jsonLines()
  const logger = pino({ level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink)
  const config = loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: redis.url, LOG_LEVEL: 'info' })
  const app = await buildApp({ config, logger })
  t.teardown(() => app.close())
  const auth = { authorization: `Bearer ${tenant.writeKey}` }
  await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: auth, payload: { type: 'pageview', page: '/', anonymousId: 'a' } })
  await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: auth, payload: { type: 'pageview' } })
  await app.inject({ method: 'GET', url: '/healthz' })
  await app.inject({ method: 'POST', url: '/v1/track', payload: { writeKey: tenant.writeKey, userId: 'u', event: 'E' } })
  await new Promise((r) => setImmediate(r))
  const requests = lines.filter((l) => l.route !== undefined)
  t.same(requests.map((l) => [l.route, l.status, l.level]), [
    ['/api/v2/analytics/events', 202, 30],
    ['/api/v2/analytics/events', 400, 40],
    ['/v1/track', 200, 30],
  ], 'one line each; the health check is below info')
  t.ok(requests.every((l) => typeof l.reqId === 'string' && typeof l.ms === 'number'))
  const everything = JSON.stringify(lines)
  t.notOk(everything.includes(tenant.writeKey), 'the write key appears nowhere in the log')
  t.notOk(everything.includes('authorization'), 'no headers are logged')
})
