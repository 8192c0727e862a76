import type { Redis } from 'ioredis'
import { realtimeKeys, shardFor } from '@tributary/shared'

const MINUTE = 60_000

export interface Realtime {
  activeUsers: number
  activeSessions: number
  eventsPerMinute: Array<{ minute: string; count: number }>
  topPages: Array<{ page: string; views: number }>
}

/**
 * The real-time figures of one tenant, from the counters append.lua keeps: users active in
 * the last 5 minutes, sessions not ended with activity within the session timeout, events
 * per minute over the last 60 minutes (oldest first, zeros included) and the most viewed
 * pages over the last 30 minutes. Read in one round trip.
 */
export async function readRealtime(redis: Redis, tenantId: string, options: { shards: number; sessionTimeoutMs: number; topPages?: number; now?: number }): Promise<Realtime> {
  const now = options.now ?? Date.now()
  const keys = realtimeKeys(tenantId, shardFor(tenantId, options.shards))
  const currentMinute = Math.floor(now / MINUTE)
  const minutes = Array.from({ length: 60 }, (_, i) => currentMinute - 59 + i)
  const pageKeys = minutes.slice(-30).map(keys.pagesInMinute)
  const reply = await redis
    .multi()
    .zcount(keys.users, now - 5 * MINUTE, '+inf')
    .zcount(keys.sessions, now - options.sessionTimeoutMs, '+inf')
    .mget(minutes.map(keys.eventsInMinute))
    .zunion(pageKeys.length, ...pageKeys, 'WITHSCORES')
    .exec()
  if (!reply) throw new Error('realtime read was aborted')
  for (const [err] of reply) if (err) throw err
  const counts = reply[2]![1] as Array<string | null>
  const pages = reply[3]![1] as string[]
  const topPages: Realtime['topPages'] = []
  for (let i = 0; i + 1 < pages.length; i += 2) topPages.push({ page: pages[i]!, views: Number(pages[i + 1]) })
  // Ties by code point, as the historical top pages break them (collate "C"): the UTF-8 bytes
  // compare in that order, where JavaScript's < compares UTF-16 units (a character past
  // U+FFFF would sort before U+E000-U+FFFF).
  topPages.sort((a, b) => b.views - a.views || Buffer.compare(Buffer.from(a.page), Buffer.from(b.page)))
  return {
    activeUsers: reply[0]![1] as number,
    activeSessions: reply[1]![1] as number,
    eventsPerMinute: minutes.map((m, i) => ({ minute: new Date(m * MINUTE).toISOString(), count: Number(counts[i] ?? 0) })),
    topPages: topPages.slice(0, options.topPages ?? 10),
  }
}
