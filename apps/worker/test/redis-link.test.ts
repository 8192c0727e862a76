import t, { type Test } from 'tap'
import { pino } from 'pino'
import { testRedis, within } from '@tributary/servers'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { watchLink } from '@tributary/shared'
import { createRedisClients } from '../src/redis-clients.ts'
import type { Worker } from '../src/worker.ts'
import { pageview, pipeline } from './fixtures/pipeline.ts'

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
  t.equal(blocking.options.enableOfflineQueue, false, 'a read while the read connection is down fails at once')
  t.equal(blocking.options.autoResendUnfulfilledCommands, false, 'a read cut off is not sent again')
})

/**
 * A worker reading through a proxy (to silence its link), its reads blocking `readBlockMs`, its
 * claims after a minute (an entry delivered to a read nobody waits for would sit that long),
 * once it has stored a first event.
 */
async function consumingThroughProxy(t: Test, readBlockMs: number) {
  const p = await pipeline(t)
  const proxy = await TcpProxy.to(p.redisUrl)
  t.teardown(() => proxy.close())
  const worker = await p.startWorker({ CLAIM_IDLE_MS: '60000', READ_BLOCK_MS: String(readBlockMs) }, undefined, proxy.url(p.redisUrl))
  await p.produce([pageview('before')])
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the first event')
  return { p, proxy, worker }
}

/** The first event and the 20 sent while the link was silent are stored within 8 s, none claimed back, nothing pending. */
async function assertStoredWithoutClaims(t: Test, p: Awaited<ReturnType<typeof pipeline>>, worker: Worker, what: string) {
  await p.waitFor(async () => (await p.rowCount()) === 21, what, 8_000)
  t.equal(worker.stats.claimed, 0, 'none had to be claimed back')
  t.equal(await p.pendingCount(), 0)
}

t.test('reads tried while the read connection is down are not sent when it comes back: what arrives meanwhile is stored at once, not after a claim sweep', async (t) => {
  const { p, proxy, worker } = await consumingThroughProxy(t, 100)

  // Silence on the link for 23 s. The read in flight passes its deadline (BLOCK + 10 s) and is
  // given up on; the connection is remade but cannot get ready. The loop's next read, ~11 s
  // in, would wait for it in the offline queue, pass its own deadline at ~21 s, and be sent
  // all the same when the link comes back, taking the events sent meanwhile (after the
  // first read was cut, so that read cannot have taken them) to a reply nobody reads.
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  proxy.freeze()
  await sleep(12_000)
  await p.produce(Array.from({ length: 20 }, (_, i) => pageview(`during${i}`)))
  await sleep(11_000)
  const sinceGoodRead = Date.now() - worker.stats.lastLoopAt
  t.ok(sinceGoodRead >= 20_000, `while every read failed, /readyz's "last read" stayed ${Math.round(sinceGoodRead / 1000)} s old (it fails past READ_BLOCK_MS + 60 s)`)
  proxy.thaw()
  await assertStoredWithoutClaims(t, p, worker, 'the events sent while the link was silent, within 8 s of its return')
})

t.test('entries given to a read that was in flight when the link went silent are re-read from the pending list once it is back, not left for a claim sweep', async (t) => {
  // Reads block 2 s in Redis (so one is there when the link goes silent), cut off after 12 s.
  const { p, proxy, worker } = await consumingThroughProxy(t, 2_000)
  await new Promise((r) => setTimeout(r, 300)) // its XACK answered, the next read blocked in Redis

  proxy.freeze()
  await p.produce(Array.from({ length: 20 }, (_, i) => pageview(`during${i}`)))
  // Redis gave them to the blocked read; its answer waits in the silent link.
  await p.waitFor(async () => (await p.pendingCount()) === 1, 'the entry delivered to the read in flight')
  await new Promise((r) => setTimeout(r, 14_000)) // past the read's deadline: given up on
  proxy.thaw()
  await assertStoredWithoutClaims(t, p, worker, 'the events the lost answer carried, within 8 s of the link coming back')
})
