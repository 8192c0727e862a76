import type { Redis } from 'ioredis'
import { fieldsToObject, groupPosition } from '@tributary/shared'

/** The id just after `id` (ms-seq), so MINID keeps nothing up to and including `id`. */
function after(id: string): string {
  const [ms, seq] = id.split('-')
  return `${ms}-${BigInt(seq ?? '0') + 1n}`
}

function older(a: string, b: string): string {
  const [am, as] = a.split('-').map(BigInt)
  const [bm, bs] = b.split('-').map(BigInt)
  return am! < bm! || (am === bm && as! < bs!) ? a : b
}

/**
 * DELCONSUMER only while the consumer owns no entry, checked in the same script: between
 * XINFO CONSUMERS and a separate DELCONSUMER the consumer could come back and read, and
 * DELCONSUMER would drop what it read from the group's pending list, so that a crash before
 * its COMMIT would leave those entries delivered, never redelivered, and trimmed: lost.
 */
const DELETE_IF_NOTHING_PENDING = `if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`

/** Removes `consumer` from `group` unless it owns pending entries; true when it was removed. */
export async function deleteConsumerIfIdle(redis: Redis, stream: string, group: string, consumer: string): Promise<boolean> {
  return (await redis.eval(DELETE_IF_NOTHING_PENDING, 1, stream, group, consumer)) === 1
}

/**
 * Removes acknowledged entries and nothing else: for every group, the first entry it still
 * needs is its oldest pending entry, or else the one after its last delivered entry; the
 * stream is trimmed (XTRIM MINID) below the oldest of those over all groups. Never a MAXLEN,
 * which would drop entries a lagging group has not read. Also removes consumers idle for
 * `idleConsumerMs` (an hour) with nothing pending — never one that still owns entries, whose
 * PEL would become unclaimable — and reports each stream's backlog (entries not yet
 * delivered plus entries delivered but not acknowledged).
 */
export async function trimAndTidy(redis: Redis, streams: string[], self: string, idleConsumerMs = 3_600_000) {
  const lag: Record<string, number> = {}
  let trimmed = 0
  for (const stream of streams) {
    const groups = ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map(fieldsToObject)
    if (groups.length === 0) continue
    let keepFrom: string | undefined
    for (const group of groups) {
      const name = String(group.name)
      const summary = (await redis.xpending(stream, name)) as [number, string | null, string | null, unknown]
      const needed = summary[0] > 0 && summary[1] ? summary[1] : after(String(group['last-delivered-id']))
      keepFrom = keepFrom === undefined ? needed : older(keepFrom, needed)
      const consumers = ((await redis.xinfo('CONSUMERS', stream, name)) as unknown[][]).map(fieldsToObject)
      for (const consumer of consumers) {
        if (consumer.name !== self && Number(consumer.pending) === 0 && Number(consumer.idle) >= idleConsumerMs) {
          await deleteConsumerIfIdle(redis, stream, name, String(consumer.name))
        }
      }
    }
    const position = await groupPosition(redis, stream)
    lag[stream] = position.undelivered + position.pending
    if (keepFrom) trimmed += Number(await redis.xtrim(stream, 'MINID', '~', keepFrom))
  }
  return { lag, trimmed }
}
