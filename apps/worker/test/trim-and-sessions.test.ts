import t from 'tap'
import { Redis } from 'ioredis'
import { cleanupAndSync } from '@tributary/db'
import { CONSUMER_GROUP, allStreamKeys, decodeEntry, shardFor, streamKey, type DecodedEntry } from '@tributary/shared'
import { ensureGroups } from '../src/streams.ts'
import { deleteConsumerIfIdle, trimAndTidy } from '../src/trim.ts'
import { writeBatch } from '../src/persist/write-batch.ts'
import { pageview, pipeline, SHARDS } from './fixtures/pipeline.ts'

t.test('trimming with a lagging group removes acknowledged entries only, and loses nothing', async (t) => {
  const p = await pipeline(t)
  const streams = allStreamKeys(SHARDS)
  await ensureGroups(p.redis, streams)
  // A second, lagging group (say an export job) that has read nothing.
  for (const s of streams) await p.redis.xgroup('CREATE', s, 'laggard', '0', 'MKSTREAM')
  for (let r = 0; r < 6; r++) await p.produce(Array.from({ length: 20 }, (_, i) => pageview(`t${r}-${i}`)))
  const stream = streamKey(shardFor(p.tenant.tenantId, SHARDS))
  const before = await p.redis.xlen(stream)
  t.equal(before, 6)

  const worker = await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 120 && (await p.pendingCount()) === 0, 'the worker group done')
  await trimAndTidy(p.redis, streams, worker.name)
  t.equal(await p.redis.xlen(stream), 6, 'the lagging group still needs every entry: nothing trimmed')

  // The laggard reads and acknowledges half.
  const read = (await p.redis.xreadgroup('GROUP', 'laggard', 'l1', 'COUNT', 3, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]>
  const ids = read[0]![1].map(([id]) => id)
  await p.redis.xack(stream, 'laggard', ...ids)
  const { trimmed } = await trimAndTidy(p.redis, streams, worker.name)
  const remaining = await p.redis.xrange(stream, '-', '+')
  t.ok(remaining.length >= 3, `entries the laggard has not read are kept (${remaining.length} left, ${trimmed} trimmed)`)
  const rest = (await p.redis.xreadgroup('GROUP', 'laggard', 'l1', 'COUNT', 10, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[] | null]>]>
  t.equal(rest[0]![1].length, 3, 'the laggard still gets its 3 unread entries')
  t.ok(rest[0]![1].every(([, f]) => f !== null), 'whole, not deleted')

  // A naive MAXLEN would have destroyed them: the check above would catch it.
  await p.redis.xack(stream, 'laggard', ...rest[0]![1].map(([id]) => id))
  await trimAndTidy(p.redis, streams, worker.name)
  t.equal(await p.redis.xlen(stream), 0, 'once every group is done, everything goes')
})

t.test('a pending entry is never trimmed, even when later ones are acknowledged', async (t) => {
  const p = await pipeline(t)
  const streams = allStreamKeys(SHARDS)
  await ensureGroups(p.redis, streams)
  for (let r = 0; r < 4; r++) await p.produce([pageview(`p${r}`)])
  const stream = streamKey(shardFor(p.tenant.tenantId, SHARDS))
  const read = (await p.redis.xreadgroup('GROUP', CONSUMER_GROUP, 'slow', 'COUNT', 4, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]>
  const ids = read[0]![1].map(([id]) => id)
  await p.redis.xack(stream, CONSUMER_GROUP, ...ids.slice(1)) // the first stays pending
  await trimAndTidy(p.redis, streams, 'me')
  const left = await p.redis.xrange(stream, '-', '+')
  t.equal(left[0]![0], ids[0], 'the pending entry survives')
})

t.test('idle consumers with nothing pending are removed; busy ones stay', async (t) => {
  const p = await pipeline(t)
  const streams = allStreamKeys(SHARDS)
  await ensureGroups(p.redis, streams)
  const stream = streams[0]!
  await p.redis.xgroup('CREATECONSUMER', stream, CONSUMER_GROUP, 'ghost')
  await p.redis.xadd(stream, '*', 'x', '1')
  await p.redis.xreadgroup('GROUP', CONSUMER_GROUP, 'holder', 'COUNT', 1, 'STREAMS', stream, '>')
  t.equal(((await p.redis.xinfo('CONSUMERS', stream, CONSUMER_GROUP)) as unknown[]).length, 2, 'ghost and holder exist')
  await trimAndTidy(p.redis, streams, 'me', 0)
  const names = ((await p.redis.xinfo('CONSUMERS', stream, CONSUMER_GROUP)) as unknown[][]).map((c) => c[1])
  t.same(names, ['holder'], 'the idle one with nothing pending is gone; the one owning an entry stays')
  // The check and the delete are one step: a consumer that read since it was seen idle stays.
  t.equal(await deleteConsumerIfIdle(p.redis, stream, CONSUMER_GROUP, 'holder'), false, 'a consumer owning an entry is not deleted')
  t.equal(Number((await p.redis.xpending(stream, CONSUMER_GROUP) as [number])[0]), 1, 'and its entry stays pending')
  await p.redis.xgroup('CREATECONSUMER', stream, CONSUMER_GROUP, 'ghost2')
  t.equal(await deleteConsumerIfIdle(p.redis, stream, CONSUMER_GROUP, 'ghost2'), true, 'one owning nothing is')
})

t.test('sessions come out the same whatever the order and number of deliveries', async (t) => {
  const p = await pipeline(t)
  const now = Date.now()
  // A session started explicitly, events in it, a heartbeat and an end; plus server-made sessions.
  const { createEventLog } = await import('../../ingest/src/event-log/event-log.ts')
  const log = createEventLog(p.redis, { shards: SHARDS, sessionTimeoutMs: 30 * 60_000, dedupWindowSeconds: 3600, sessionStateTtlSeconds: 86_400, rateLimitPerSecond: 0, backlogCap: 0 })
  await log.session('ss', p.tenant.tenantId, 'k', { id: 'S', uk: 'u1', ui: 'u1', at: now - 600_000, device: 'phone' }, now)
  await p.produce([pageview('a', { sessionId: 'S', userId: 'u1', timestamp: new Date(now - 500_000).toISOString() })])
  await log.session('sh', p.tenant.tenantId, 'k', { id: 'S', at: now - 300_000 }, now)
  await p.produce([pageview('b', { sessionId: 'S', userId: 'u1', timestamp: new Date(now - 200_000).toISOString() })])
  await log.session('se', p.tenant.tenantId, 'k', { id: 'S', at: now - 100_000 }, now)
  await p.produce([pageview('c', { userId: 'u2', timestamp: new Date(now - 50_000).toISOString() }), pageview('d', { userId: 'u2', timestamp: new Date(now - 40_000).toISOString() })])
  const stream = streamKey(shardFor(p.tenant.tenantId, SHARDS))
  const entries = (await p.redis.xrange(stream, '-', '+')).map(([, f]) => decodeEntry(f))
  t.equal(entries.length, 6)

  const snapshot = async () =>
    (await p.database.sql`select id, user_key, user_id, started_at, last_seen_at, ended_at, is_active, device from user_sessions order by id`).map((r) => ({ ...r }))
  await writeBatch(p.database.db, entries, 10_000)
  const expected = await snapshot()
  t.match(expected.find((s) => s.id === 'S'), { user_key: 'u1', started_at: new Date(now - 600_000), last_seen_at: new Date(now - 100_000), ended_at: new Date(now - 100_000), is_active: false, device: 'phone' })

  // Shuffled and repeated, in several batches: same rows.
  for (let round = 0; round < 5; round++) {
    await p.database.sql`delete from user_sessions`
    await p.database.sql`delete from user_activities`
    const shuffled = [...entries, ...entries.slice(0, round + 1)].sort(() => Math.random() - 0.5)
    for (let i = 0; i < shuffled.length; i += 2) await writeBatch(p.database.db, shuffled.slice(i, i + 2), 10_000)
    await writeBatch(p.database.db, shuffled, 10_000)
    t.same(await snapshot(), expected, `round ${round}: identical`)
  }
  t.equal(await p.rowCount(), 4, 'four activities; session calls are not activities')
})

t.test('a session ended by timeout, then reached by a late activity or its explicit end, comes out as if they had arrived before the close', async (t) => {
  const p = await pipeline(t)
  const now = Date.now()
  const min = 60_000
  const { createEventLog } = await import('../../ingest/src/event-log/event-log.ts')
  const log = createEventLog(p.redis, { shards: SHARDS, sessionTimeoutMs: 30 * min, dedupWindowSeconds: 3600, sessionStateTtlSeconds: 86_400, rateLimitPerSecond: 0, backlogCap: 0 })
  const at = (ago: number) => new Date(now - ago * min).toISOString()
  // Session L: activity 120 and 100 minutes ago, then (late: an offline client, a lagging
  // worker) one 80 minutes ago, within its timeout. Session E: activity 120 minutes ago,
  // then its explicit end, dated 90 minutes ago, arrives late.
  await p.produce([pageview('l1', { sessionId: 'L', userId: 'u1', timestamp: at(120) }), pageview('l2', { sessionId: 'L', userId: 'u1', timestamp: at(100) })])
  await p.produce([pageview('e1', { sessionId: 'E', userId: 'u2', timestamp: at(120) })])
  await p.produce([pageview('l3', { sessionId: 'L', userId: 'u1', timestamp: at(80) })])
  await log.session('se', p.tenant.tenantId, 'k', { id: 'E', at: now - 90 * min }, now)
  const entries = (await p.redis.xrange(streamKey(shardFor(p.tenant.tenantId, SHARDS)), '-', '+')).map(([, f]) => decodeEntry(f))
  t.equal(entries.length, 4)
  const [early, earlyE, lateL, lateEnd] = entries as [DecodedEntry, DecodedEntry, DecodedEntry, DecodedEntry]
  const sync = () => cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: true })
  const sessions = async () => (await p.database.sql`select id, started_at, last_seen_at, ended_at, is_active, timed_out from user_sessions order by id`).map((r) => ({ ...r }))
  const metrics = async () => (await p.database.sql`select date::text, sessions, ended_sessions, avg_session_duration_seconds from platform_metrics order by date`).map((r) => ({ ...r }))
  const reset = () => p.database.sql`truncate user_sessions, user_activities, activity_deltas, platform_metrics, metrics_dirty_days, metrics_syncing_days, daily_user_bitmaps`

  // In order: everything, then the sync.
  await writeBatch(p.database.db, entries, 10_000)
  await sync()
  const inOrder = await sessions()
  t.match(inOrder, [
    { id: 'E', ended_at: new Date(now - 90 * min), is_active: false, timed_out: false },
    { id: 'L', last_seen_at: new Date(now - 80 * min), ended_at: new Date(now - 80 * min), is_active: false, timed_out: true },
  ])
  const inOrderMetrics = await metrics()

  // Late: the sync ends both by timeout first; then the late parts arrive, and the next sync runs.
  await reset()
  await writeBatch(p.database.db, [early, earlyE], 10_000)
  await sync()
  t.match(await sessions(), [{ id: 'E', ended_at: new Date(now - 120 * min), timed_out: true }, { id: 'L', ended_at: new Date(now - 100 * min), timed_out: true }], 'both ended by timeout')
  await writeBatch(p.database.db, [lateL, lateEnd], 10_000)
  t.match(await sessions(), [{ id: 'E', ended_at: new Date(now - 90 * min), is_active: false, timed_out: false }, { id: 'L', ended_at: null, is_active: true, timed_out: false }], "the explicit end replaces the timeout's; the late activity reopens L")
  await sync()
  t.same(await sessions(), inOrder, 'the same sessions as in order')
  t.same(await metrics(), inOrderMetrics, 'the same daily figures (duration included) as in order')

  // An activity of L earlier than what the close saw changes nothing: the timeout's end stands.
  await writeBatch(p.database.db, [early], 10_000)
  t.same(await sessions(), inOrder, 'a redelivered earlier entry leaves the ended session as it is')

  // Mid-upgrade, a worker from before 0010 (it never touches timed_out) applied an explicit
  // end to a session the close had ended: that end stands; a later activity does not reopen it.
  await reset()
  await writeBatch(p.database.db, [early], 10_000)
  await sync()
  const explicitEnd = new Date(now - 110 * min)
  await p.database.sql`update user_sessions set ended_at = least(ended_at, ${explicitEnd}) where id = 'L'`
  await writeBatch(p.database.db, [lateL], 10_000)
  t.match(await sessions(), [{ id: 'L', ended_at: explicitEnd, is_active: false, last_seen_at: new Date(now - 80 * min) }], "an explicit end an older worker wrote is not the timeout's, and stays")
})

t.test('two workers share the load and store every event once', async (t) => {
  const p = await pipeline(t)
  const a = await p.startWorker({ WORKER_NAME: 'a' })
  const b = await p.startWorker({ WORKER_NAME: 'b' })
  for (let r = 0; r < 40; r++) await p.produce(Array.from({ length: 25 }, (_, i) => pageview(`two${r}-${i}`)))
  await p.waitFor(async () => (await p.rowCount()) === 1000 && (await p.pendingCount()) === 0, 'all 1000')
  t.ok(a.stats.entries > 0 && b.stats.entries > 0, `both worked (a: ${a.stats.entries} entries, b: ${b.stats.entries})`)
  t.equal(a.stats.entries + b.stats.entries, 40, 'each entry handled by one of them')
  const redis = new Redis(p.redisUrl)
  t.teardown(() => redis.disconnect())
  t.equal(await p.rowCount(), 1000)
})
