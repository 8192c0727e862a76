import t, { type Test } from 'tap'
import { createTenant } from '@tributary/db'
import { CONSUMER_GROUP, allStreamKeys, shardFor } from '@tributary/shared'
import { pageview, pipeline, SHARDS } from './fixtures/pipeline.ts'

type Pipeline = Awaited<ReturnType<typeof pipeline>>

/** 20 requests of 10 events on each of the two shards: 400 events, a backlog on both streams. */
async function backlogOnBothShards(p: Pipeline) {
  let other = await createTenant(p.database.db, 'other-0')
  for (let i = 1; shardFor(other.tenantId, SHARDS) === shardFor(p.tenant.tenantId, SHARDS); i++) other = await createTenant(p.database.db, `other-${i}`)
  for (let r = 0; r < 20; r++) {
    await p.produce(Array.from({ length: 10 }, (_, i) => pageview(`a${r}-${i}`)))
    await p.produce(Array.from({ length: 10 }, (_, i) => pageview(`b${r}-${i}`)), other.tenantId)
  }
}

/** Reads every entry as `consumer` and leaves it pending, as a worker that died after its read. */
async function readAndDie(t: Test, p: Pipeline, consumer: string) {
  for (const stream of allStreamKeys(SHARDS)) {
    await p.redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => {})
    await p.redis.xreadgroup('GROUP', CONSUMER_GROUP, consumer, 'COUNT', 1_000, 'STREAMS', stream, '>')
  }
  t.equal(await p.pendingCount(), 40, `the 40 entries are pending with ${consumer}`)
}

/** The number of events each transaction wrote: rows written by one transaction share its id (xmin). */
async function transactionSizes(p: Pipeline): Promise<number[]> {
  return (await p.database.sql`select count(*)::int as n from user_activities group by xmin::text`).map((r) => r.n as number)
}

async function assertBounded(t: Test, p: Pipeline, max: number) {
  await p.waitFor(async () => (await p.rowCount()) === 400 && (await p.pendingCount()) === 0, 'all 400 events stored and acknowledged')
  const sizes = await transactionSizes(p)
  t.equal(sizes.reduce((a, b) => a + b, 0), 400, 'every event stored once')
  t.ok(Math.max(...sizes) <= max, `no transaction wrote more than ${max} events (largest ${Math.max(...sizes)}, ${sizes.length} transactions)`)
}

t.test('reads over several shards with a backlog: no transaction writes more than BATCH_MAX_EVENTS events', async (t) => {
  const p = await pipeline(t)
  await backlogOnBothShards(p)
  // A read's COUNT applies to each stream: sized for the room in one batch, a read over two
  // streams with a backlog brings two batches' worth.
  await p.startWorker({ BATCH_MAX_EVENTS: '30' })
  await assertBounded(t, p, 30)
})

t.test('a batch is bounded by BATCH_MAX_BYTES too', async (t) => {
  const p = await pipeline(t)
  await backlogOnBothShards(p)
  // An empty batch always takes its first entry: a 1-byte bound leaves one entry (10 events) a transaction.
  await p.startWorker({ BATCH_MAX_BYTES: '1', BATCH_MAX_EVENTS: '1000' })
  await assertBounded(t, p, 10)
})

t.test('entries the worker resumes at start (its own, never acknowledged) are written in bounded batches', async (t) => {
  const p = await pipeline(t)
  await backlogOnBothShards(p)
  await readAndDie(t, p, 'w1')
  await p.startWorker({ BATCH_MAX_EVENTS: '30', WORKER_NAME: 'w1' })
  await assertBounded(t, p, 30)
})

t.test('entries taken over from a consumer that stopped are written in bounded batches', async (t) => {
  const p = await pipeline(t)
  await backlogOnBothShards(p)
  await readAndDie(t, p, 'gone')
  await new Promise((resolve) => setTimeout(resolve, 20))
  const worker = await p.startWorker({ BATCH_MAX_EVENTS: '30', CLAIM_IDLE_MS: '10' })
  await assertBounded(t, p, 30)
  t.equal(worker.stats.claimed, 40, 'all 40 entries were taken over')
})

t.test('stopping: what was read past the last batch is written and acknowledged before stop() returns', async (t) => {
  const p = await pipeline(t)
  // Entries of 7 events against room for 30: reads sized by the running estimate end past the
  // bound (4 entries are 28 events, 5 are 35), so the first batch leaves an entry read ahead.
  for (let r = 0; r < 100; r++) await p.produce(Array.from({ length: 7 }, (_, i) => pageview(`c${r}-${i}`)))
  // The first write waits on a lock, so stop() comes while the worker waits for its write, not
  // mid-read (a read cut off by stop() leaves what it took pending for a restart: the crash
  // tests cover that). The long wait lets the batch fill by count however slow the machine.
  let stopping: Promise<void> | undefined
  await p.database.sql.begin(async (tx) => {
    await tx`lock table user_activities in share mode`
    const worker = await p.startWorker({ BATCH_MAX_EVENTS: '30', WRITE_CONCURRENCY: '1', BATCH_MAX_WAIT_MS: '10000' })
    await p.waitFor(async () => (await p.database.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n > 0, 'the first write waiting on the lock')
    stopping = worker.stop()
  })
  await stopping
  const stored = await p.rowCount()
  t.ok(stored > 0 && stored < 700, `stopped before the backlog was done (${stored} of 700 events stored)`)
  t.equal(await p.pendingCount(), 0, 'nothing delivered to the worker is left pending')
  t.equal(stored % 7, 0, 'whole entries stored')
  const sizes = await transactionSizes(p)
  t.ok(Math.max(...sizes) <= 30, `no transaction wrote more than 30 events (largest ${Math.max(...sizes)})`)
})

t.test('entries read ahead while the database fails: renewed in time, and left to a peer that took them over', async (t) => {
  const p = await pipeline(t)
  for (let r = 0; r < 100; r++) await p.produce(Array.from({ length: 7 }, (_, i) => pageview(`c${r}-${i}`)))
  const pendingWith = async (consumer: string) => {
    const ids: string[] = []
    for (const stream of allStreamKeys(SHARDS)) {
      const list = (await p.redis.xpending(stream, CONSUMER_GROUP, '-', '+', 1_000, consumer)) as Array<[string]>
      for (const [id] of list) ids.push(`${stream} ${id}`)
    }
    return ids
  }
  let taken = ''
  await p.database.sql.begin(async (tx) => {
    await tx`lock table user_activities in share mode`
    // The first batch (4 entries, 28 events) waits on the lock; the entry read past it waits for the batch after.
    // The wait lets the first batch fill by count on a slow machine, and keeps the last (short) one brief.
    await p.startWorker({ BATCH_MAX_EVENTS: '30', WRITE_CONCURRENCY: '1', BATCH_MAX_WAIT_MS: '500', CLAIM_IDLE_MS: '6000' })
    await p.waitFor(async () => (await p.database.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n > 0, 'the first write waiting on the lock')
    const held = await pendingWith('w1')
    t.equal(held.length, 5, 'the worker holds the 4 entries of its batch and 1 read ahead')
    // Past a third of CLAIM_IDLE_MS the worker renews its claim on what it holds; a peer's sweep took the entry read ahead meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    taken = held.at(-1)!
    const [stream, id] = taken.split(' ')
    await p.redis.xclaim(stream!, CONSUMER_GROUP, 'peer', 0, id!, 'JUSTID')
  })
  // Everything but the peer's entry is written; the peer's stays the peer's (within CLAIM_IDLE_MS, before any sweep could take it back).
  await p.waitFor(async () => (await p.rowCount()) === 693 && (await pendingWith('w1')).length === 0, 'the 99 entries of the worker stored', 5_000)
  t.same(await pendingWith('peer'), [taken], "the peer's entry is still pending with the peer")
  const [row] = await p.database.sql`select count(*)::int as n from user_activities where event_id like 'c4-%'`
  t.equal(row!.n, 0, "the worker did not write the peer's entry (its 5th, events c4-*)")
})
