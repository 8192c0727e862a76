import t from 'tap'
import { pino } from 'pino'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { testRedis } from '@tributary/servers'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { buildApp } from '../src/app.ts'
import { storedEvents } from './fixtures/build.ts'
import { loadIngestConfig } from '../src/config.ts'

t.test('a Redis link that dies silently: a few 503s, then ingest has made a new connection and accepts again', async (t) => {
  const database = await testDatabase(t)
  const { url, redis } = await testRedis(t)
  const proxy = await TcpProxy.to(url)
  t.teardown(() => proxy.close())
  const tenant = await createTenant(database.db, 'acme')
  const config = loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: proxy.url(url), LOG_LEVEL: 'silent' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const post = (i: number) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.writeKey}` }, payload: { eventId: `e${i}`, type: 'x', userId: 'u' } })
  t.equal((await post(0)).statusCode, 202)

  proxy.holdOpen() // the connections open now hear nothing more; new ones pass
  const started = Date.now()
  const statuses: number[] = []
  for (let i = 1; Date.now() - started < 15_000; i++) {
    const res = await post(i)
    statuses.push(res.statusCode)
    if (res.statusCode === 202) break
    t.equal(res.statusCode, 503, 'meanwhile a 503 the client can retry, never a 500')
  }
  t.equal(statuses.at(-1), 202, `accepting again after ${Date.now() - started} ms (${statuses.join(' ')})`)
  t.ok(Date.now() - started < 10_000, 'within seconds, not the kernel\'s minutes')
  // What the 503s carried never reached Redis, and is not sent there late: only e0 and the accepted one are stored.
  await new Promise((r) => setTimeout(r, 500))
  const stored = (await storedEvents(redis, config.STREAM_SHARDS)).map((e) => e.eventId).sort()
  t.same(stored, ['e0', `e${statuses.length}`].sort())
})
