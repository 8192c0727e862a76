import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { startTestServers } from '@tributary/servers'
import { createEventLog } from '@tributary/ingest/event-log'
import { shardFor, uuidv7 } from '@tributary/shared'
import { appendable } from './ingest.ts'

/**
 * Redis-side cost of one append call (INFO commandstats), for profiling the Lua script:
 * `tsx src/lua-cost.ts [ids per older set] [v7|v4]`: 3,000 requests of 50 events, 50 at a
 * time, grouped into calls as ingest groups them. Event ids are UUIDv7 (made now), or UUIDv4
 * with `v4`: append.lua looks a fresh UUIDv7 up only in the current set, any other id in all.
 *
 * A fresh tenant has one set of seen event ids; one that has sent for a whole window has
 * four, and append.lua looks every event id up in each. With an argument, the three older
 * sets first get that many ids each: the steady state, which the ingest benchmark, from an
 * empty Redis, never reaches.
 */
const prefill = Number(process.argv[2] ?? 0)
const newId = process.argv[3] === 'v4' ? randomUUID : () => uuidv7()
const TENANT = '00000000-0000-7000-8000-000000000001'
const SHARDS = 4
const DEDUP_SECONDS = 3600
const servers = await startTestServers({ appendfsync: 'everysec' })
try {
  const redis = new Redis(servers.redisUrl)
  const log = createEventLog(redis, { shards: SHARDS, sessionTimeoutMs: 1_800_000, dedupWindowSeconds: DEDUP_SECONDS, sessionStateTtlSeconds: 86400, rateLimitPerSecond: 0, backlogCap: 0 })
  // A deployment past its upgrade's 2 windows, when append.lua uses the ids' times.
  await redis.set(`tributary:dedup-timed-since:{${shardFor(TENANT, SHARDS)}}`, Date.now() - 3 * DEDUP_SECONDS * 1000)
  if (prefill > 0) {
    // The key layout of append.lua: 4 sets of a third of the window; these are the 3 older.
    const bucketSeconds = Math.ceil(DEDUP_SECONDS / 3)
    const bucket = Math.floor(Date.now() / 1000 / bucketSeconds)
    const setOf = (b: number) => `tributary:dedup:{${shardFor(TENANT, SHARDS)}}:${TENANT}:${b}`
    for (let b = bucket - 3; b < bucket; b++) {
      for (let filled = 0; filled < prefill; filled += 10_000) {
        const pipeline = redis.pipeline()
        for (let i = 0; i < 10; i++) pipeline.sadd(setOf(b), ...Array.from({ length: 1_000 }, () => randomUUID()))
        await pipeline.exec()
      }
      await redis.expire(setOf(b), 2 * DEDUP_SECONDS)
    }
    console.log(`3 older sets of ${(await redis.scard(setOf(bucket - 1))).toLocaleString('en-US')} ids`)
  }
  const now = Date.now()
  const make = (n: number) =>
    Array.from({ length: 50 }, (_, i) => appendable({ eventId: newId(), type: i % 3 ? 'pageview' : 'action', page: `/p/${i % 12}`, anonymousId: `visitor-${n % 997}`, metadata: { a: 'x'.repeat(120) } }, now))
  const batches = Array.from({ length: 3000 }, (_, n) => make(n))
  await redis.config('RESETSTAT')
  const started = performance.now()
  const inflight = []
  for (const b of batches) {
    inflight.push(log.appendEvents(TENANT, 'k', b, Date.now()))
    if (inflight.length >= 50) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  const elapsed = performance.now() - started
  const stats = (await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat'))
  const evalUsec = Number(stats.find((l) => l.startsWith('cmdstat_evalsha'))?.match(/usec=(\d+)/)?.[1] ?? Number.NaN)
  console.log(`${(batches.length / (elapsed / 1000)).toFixed(0)} calls/s; the script: ${(evalUsec / batches.length).toFixed(0)} µs per 50-event request`)
  console.log(stats.join('\n'))
  redis.disconnect()
} finally {
  await servers.stop()
}
