import type { Redis } from 'ioredis'
import { CONSUMER_GROUP, deadLetterKey } from '@tributary/shared'

/** The shard number inside a stream key's hash tag: tributary:events:{3} → 3. */
export function shardOf(stream: string): number {
  return Number(/\{(\d+)\}/.exec(stream)?.[1] ?? 0)
}

/**
 * Moves an entry that can never be written to `tributary:dlq:{N}` with the reason, and
 * acknowledges the original in the same MULTI (both keys share the shard's hash tag), so it
 * is neither lost nor retried forever. `pnpm tributary dlq replay` puts it back.
 */
export async function deadLetter(redis: Redis, stream: string, id: string, fields: string[], code: string, message: string) {
  const result = await redis
    .multi()
    .xadd(deadLetterKey(shardOf(stream)), '*', 'stream', stream, 'id', id, 'code', code, 'error', message.slice(0, 2_000), 'failedAt', new Date().toISOString(), 'fields', JSON.stringify(fields))
    .xack(stream, CONSUMER_GROUP, id)
    .exec()
  for (const [err] of result ?? []) if (err) throw err
}
