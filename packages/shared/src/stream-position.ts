import type { Redis } from 'ioredis'
import { CONSUMER_GROUP } from './streams.ts'

const toMap = (flat: unknown[]) => Object.fromEntries(Array.from({ length: Math.floor(flat.length / 2) }, (_, k) => [String(flat[2 * k]), flat[2 * k + 1]])) as Record<string, unknown>

/**
 * Where the writers' group stands on a stream: entries not yet delivered, entries delivered
 * but not acknowledged, and the oldest of those. Redis 7.0 cannot always compute a group's
 * `lag` (nil after trimming or for a group made at 0 over existing entries), so "nothing
 * undelivered" is decided by the group having been handed the stream's last entry.
 */
export async function groupPosition(redis: Redis, stream: string) {
  const [info, groups, summary] = await Promise.all([
    redis.xinfo('STREAM', stream).catch(() => null) as Promise<unknown[] | null>,
    redis.xinfo('GROUPS', stream).catch(() => []) as Promise<unknown[][]>,
    redis.xpending(stream, CONSUMER_GROUP).catch(() => [0, null]) as Promise<[number, string | null]>,
  ])
  const length = info ? Number(toMap(info).length ?? 0) : 0
  const lastGenerated = info ? String(toMap(info)['last-generated-id']) : '0-0'
  const group = groups.map(toMap).find((g) => g.name === CONSUMER_GROUP)
  let undelivered = length
  if (group) {
    if (group['last-delivered-id'] === lastGenerated) undelivered = 0
    else if (group.lag !== null && group.lag !== undefined) undelivered = Number(group.lag)
  }
  return { length, undelivered, pending: Number(summary[0]), oldestPendingId: summary[1] }
}
