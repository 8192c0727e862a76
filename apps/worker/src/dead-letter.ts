import type { Redis } from 'ioredis'
import { CONSUMER_GROUP, deadLetterKey } from '@tributary/shared'

/** The shard number inside a stream key's hash tag: tributary:events:{3} → 3. */
export function shardOf(stream: string): number {
  return Number(/\{(\d+)\}/.exec(stream)?.[1] ?? 0)
}

/**
 * XADD the dead letter, then XACK the original, in one script (both keys share the shard's
 * hash tag): an XADD that fails (the dead-letter key of the wrong type, say) stops the
 * script before the XACK, so the entry stays pending and is retried instead of being
 * acknowledged with no dead letter to show for it. In a MULTI the XACK would still run.
 * An entry no longer pending was dead-lettered already (a call sent again after its answer
 * was lost with a remade connection): nothing is written twice.
 */
const DEAD_LETTER_SCRIPT = `if #redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])`

/**
 * Moves an entry that can never be written to `tributary:dlq:{N}` with the reason, and
 * acknowledges the original at the same time, so it is neither lost nor retried forever.
 * `pnpm tributary dlq replay` puts it back.
 */
export async function deadLetter(redis: Redis, stream: string, id: string, fields: string[], code: string, message: string) {
  await redis.eval(DEAD_LETTER_SCRIPT, 2, deadLetterKey(shardOf(stream)), stream, CONSUMER_GROUP, id,
    'stream', stream, 'id', id, 'code', code, 'error', message.slice(0, 2_000), 'failedAt', new Date().toISOString(), 'fields', JSON.stringify(fields))
}
