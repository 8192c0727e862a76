import type { Redis } from 'ioredis'
import { CONSUMER_GROUP } from './streams.ts'

/** The flat [field, value, …] arrays XINFO replies with, as an object. */
export function fieldsToObject(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1]
  return out
}

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
  const length = info ? Number(fieldsToObject(info).length ?? 0) : 0
  const lastGenerated = info ? String(fieldsToObject(info)['last-generated-id']) : '0-0'
  const group = groups.map(fieldsToObject).find((g) => g.name === CONSUMER_GROUP)
  let undelivered = length
  if (group) {
    if (group['last-delivered-id'] === lastGenerated) undelivered = 0
    else if (group.lag !== null && group.lag !== undefined) undelivered = Number(group.lag)
  }
  return { length, undelivered, pending: Number(summary[0]), oldestPendingId: summary[1] }
}
