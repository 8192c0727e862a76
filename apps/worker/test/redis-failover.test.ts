import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { freePort, startRedis } from '@tributary/servers'
import { allStreamKeys, CONSUMER_GROUP, shardFor, streamKey } from '@tributary/shared'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { pageview, pipeline, producerOn, SHARDS } from './fixtures/pipeline.ts'

/** Two throwaway redis-servers, and a client to each. */
async function primaryAndReplica(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-failover-'))
  const servers = []
  for (const name of ['a', 'b']) servers.push(await startRedis({ port: await freePort(), dir: join(dir, name), appendfsync: 'everysec', noSnapshots: true }))
  const [a, b] = servers as [Awaited<ReturnType<typeof startRedis>>, Awaited<ReturnType<typeof startRedis>>]
  const clients = [new Redis(a.url), new Redis(b.url)] as const
  t.teardown(async () => {
    for (const c of clients) c.disconnect()
    await a.stop()
    await b.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { a, b, clientA: clients[0], clientB: clients[1] }
}

/** Entries delivered and not acknowledged, over every shard (0 where the group is not made yet). */
async function pendingOn(redis: Redis): Promise<number> {
  let pending = 0
  for (const stream of allStreamKeys(SHARDS)) {
    try {
      pending += ((await redis.xpending(stream, CONSUMER_GROUP)) as [number])[0]
    } catch {
      /* no group yet */
    }
  }
  return pending
}

t.test('a failover that leaves the worker connected to the old primary (now a replica answering READONLY): it reconnects to the new one and goes on', async (t) => {
  const p = await pipeline(t)
  const { a, b, clientA, clientB } = await primaryAndReplica(t)
  await clientB.replicaof('127.0.0.1', Number(new URL(a.url).port))
  await p.waitFor(async () => (await clientB.info('replication')).includes('master_link_status:up'), 'the replica in sync')
  // The worker reaches Redis by a name (here a proxy) that a failover points elsewhere.
  const name = await TcpProxy.to(a.url)
  t.teardown(() => name.close())
  const worker = await p.startWorker({}, undefined, name.url(a.url))
  await producerOn(clientA)(p.tenant.tenantId, [pageview('before')])
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the event sent before the failover')
  // Its XACK follows the COMMIT: wait until the replica has it (WAIT would cover only this client's writes).
  await p.waitFor(async () => (await pendingOn(clientB)) === 0 && (await clientB.xlen(streamKey(shardFor(p.tenant.tenantId, SHARDS)))) === 1, 'the entry and its acknowledgement on the replica')

  // The failover: B promoted, the name pointed at it, A made a replica of B. A closes the
  // connections it had blocked (the worker's read connection comes back through the name, to
  // B) but keeps the others: the command connection, on which every XACK is now READONLY.
  await clientB.replicaof('NO', 'ONE')
  name.retarget(b.url)
  await clientA.replicaof('127.0.0.1', Number(new URL(b.url).port))
  await p.waitFor(async () => (await clientA.info('replication')).includes('master_link_status:up'), 'A a replica of B')
  const errorsBefore = worker.stats.transientErrors
  await producerOn(clientB)(p.tenant.tenantId, [pageview('after')])
  await p.waitFor(async () => (await p.rowCount()) === 2, 'the event sent to the new primary', 15_000)
  await p.waitFor(async () => (await pendingOn(clientB)) === 0, 'its acknowledgement on the new primary', 15_000)
  t.equal(await pendingOn(clientB), 0, 'acknowledged on the new primary')
  t.comment(`${worker.stats.transientErrors - errorsBefore} failed commands before the reconnection`)
})
