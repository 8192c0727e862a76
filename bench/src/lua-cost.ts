import { Redis } from 'ioredis'
import { startTestServers } from '@tributary/servers'
import { createEventLog } from '@tributary/ingest/event-log'
import { encodeEventJson, normalizeNative } from '@tributary/shared'

/** Redis-side cost of one append call (INFO commandstats), for profiling the Lua script. */
const servers = await startTestServers({ appendfsync: 'everysec' })
try {
  const redis = new Redis(servers.redisUrl)
  const log = createEventLog(redis, { shards: 4, sessionTimeoutMs: 1_800_000, dedupWindowSeconds: 3600, sessionStateTtlSeconds: 86400, rateLimitPerSecond: 0, backlogCap: 0 })
  const now = Date.now()
  const make = (n: number) =>
    Array.from({ length: 50 }, (_, i) => {
      const r = normalizeNative({ eventId: `${n}-${i}`, type: i % 3 ? 'pageview' : 'action', page: `/p/${i % 12}`, anonymousId: `visitor-${n % 997}`, metadata: { a: 'x'.repeat(120) } }, now, undefined)
      if (!r.ok) throw new Error('bad')
      return { event: r.event, json: encodeEventJson(r.event) }
    })
  const batches = Array.from({ length: 3000 }, (_, n) => make(n))
  await redis.config('RESETSTAT')
  const started = performance.now()
  const inflight = []
  for (const b of batches) {
    inflight.push(log.appendEvents('00000000-0000-7000-8000-000000000001', 'k', b, Date.now()))
    if (inflight.length >= 50) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  const elapsed = performance.now() - started
  const stats = (await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat'))
  console.log(`${(batches.length / (elapsed / 1000)).toFixed(0)} calls/s`)
  console.log(stats.join('\n'))
  redis.disconnect()
} finally {
  await servers.stop()
}
