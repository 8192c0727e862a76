import type { Redis } from 'ioredis'
import { CONSUMER_GROUP } from '@tributary/shared'

export interface StreamEntry {
  stream: string
  id: string
  /** null when the entry was deleted (trimmed) after it was delivered. */
  fields: string[] | null
}

/** Creates the consumer group on every stream from id 0; BUSYGROUP (it exists) is fine. */
export async function ensureGroups(redis: Redis, streams: string[]) {
  for (const stream of streams) {
    try {
      await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err
    }
  }
}

type ReadReply = Array<[string, Array<[string, string[] | null]>]> | null

/**
 * XREADGROUP over several streams. A blocking read gets a deadline a little past its BLOCK
 * time: if the reply never comes (a half-open connection), the connection is dropped and
 * remade rather than waiting forever; what it may have delivered stays pending for us.
 */
export async function readGroup(redis: Redis, consumer: string, streams: string[], ids: string[], count: number, blockMs: number | undefined): Promise<StreamEntry[]> {
  const args: Array<string | number> = ['GROUP', CONSUMER_GROUP, consumer, 'COUNT', count]
  if (blockMs !== undefined) args.push('BLOCK', Math.ceil(blockMs))
  args.push('STREAMS', ...streams, ...ids)
  const read = redis.call('XREADGROUP', ...args) as Promise<ReadReply>
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      redis.disconnect(true)
      reject(new Error('XREADGROUP did not answer in time; reconnected'))
    }, (blockMs ?? 0) + 10_000)
  })
  try {
    const reply = await Promise.race([read, deadline])
    const entries: StreamEntry[] = []
    for (const [stream, list] of reply ?? []) for (const [id, fields] of list) entries.push({ stream, id, fields })
    return entries
  } finally {
    clearTimeout(timer)
  }
}

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
