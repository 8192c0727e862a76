import t from 'tap'
import { pino } from 'pino'
import { testRedis, within } from '@tributary/servers'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { watchLink } from '@tributary/shared'
import { createRedisClients } from '../src/redis-clients.ts'

t.test('a command connection whose link dies silently is made again, and the command that hung on it goes through', async (t) => {
  const { url } = await testRedis(t)
  const proxy = await TcpProxy.to(url)
  t.teardown(() => proxy.close())
  const { redis, blocking } = createRedisClients(proxy.url(url))
  t.teardown(() => {
    redis.disconnect()
    blocking.disconnect()
  })
  await redis.connect()
  const stop = watchLink(redis, pino({ level: 'silent' }), { everyMs: 200, deadlineMs: 1_000 })
  t.teardown(stop)
  await redis.set('link', 'before')
  const connections = proxy.stats.accepted

  proxy.holdOpen() // the open connection hears nothing more, either way; new ones pass
  const hung = redis.set('link', 'after')
  t.equal(await within(hung, 10_000), 'OK', 'the command went through once the connection was made again')
  t.ok(proxy.stats.accepted > connections, 'on a new connection')
  t.equal(await redis.get('link'), 'after')
})

t.test('the options the worker connects with: keepalive on both connections, commands wait out a reconnection', async (t) => {
  const { redis, blocking } = createRedisClients('redis://127.0.0.1:1')
  for (const client of [redis, blocking]) {
    t.equal(client.options.keepAlive, 10_000)
    t.equal(client.options.maxRetriesPerRequest, null)
    t.equal(client.options.lazyConnect, true, 'nothing connects until asked')
  }
})
