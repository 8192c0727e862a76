import t from 'tap'
import { pino } from 'pino'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { testRedis } from '@tributary/servers'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { buildApp } from '../src/app.ts'
import { ownRedis, storedEvents } from './fixtures/build.ts'
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

t.test('a failover that leaves ingest connected to the old primary (now a replica answering READONLY): a 503, then it reconnects to the new one and accepts', async (t) => {
  const database = await testDatabase(t)
  const a = await ownRedis(t)
  const b = await ownRedis(t)
  await b.admin.replicaof('127.0.0.1', Number(new URL(a.url).port))
  const linkUp = async (admin: typeof a.admin, what: string) => {
    for (let i = 0; !(await admin.info('replication')).includes('master_link_status:up'); i++) {
      if (i > 200) throw new Error(`${what}: replication never came up`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  await linkUp(b.admin, 'B replica of A')
  // Ingest reaches Redis by a name (here a proxy) that the failover points elsewhere.
  const name = await TcpProxy.to(a.url)
  t.teardown(() => name.close())
  const tenant = await createTenant(database.db, 'acme')
  const config = loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: name.url(a.url), LOG_LEVEL: 'silent' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const post = (i: number) => app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.writeKey}` }, payload: { eventId: `e${i}`, type: 'x', userId: 'u' } })
  t.equal((await post(0)).statusCode, 202)
  // On the replica before the failover (WAIT would cover only a.admin's own writes).
  for (let i = 0; !(await storedEvents(b.admin, config.STREAM_SHARDS)).some((e) => e.eventId === 'e0'); i++) {
    if (i > 200) throw new Error('e0 never reached the replica')
    await new Promise((r) => setTimeout(r, 50))
  }

  await b.admin.replicaof('NO', 'ONE')
  name.retarget(b.url)
  await a.admin.replicaof('127.0.0.1', Number(new URL(b.url).port))
  await linkUp(a.admin, 'A replica of B')
  const started = Date.now()
  const statuses: number[] = []
  for (let i = 1; Date.now() - started < 10_000; i++) {
    const res = await post(i)
    statuses.push(res.statusCode)
    if (res.statusCode === 202) break
    t.equal(res.statusCode, 503, 'meanwhile a 503 the client can retry, never a 500')
    await new Promise((r) => setTimeout(r, 100))
  }
  t.equal(statuses.at(-1), 202, `accepting again, on the new primary, after ${Date.now() - started} ms (${statuses.join(' ')})`)
  const stored = (await storedEvents(b.admin, config.STREAM_SHARDS)).map((e) => e.eventId).sort()
  t.same(stored, ['e0', `e${statuses.length}`].sort(), 'the new primary holds e0 and the accepted one, nothing the 503s carried')
})
