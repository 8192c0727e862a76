import { describeDatabaseFailure } from '@tributary/db'

/** Thrown for an operation that stopped part-way and says so in its message: shown as one line, exit 1. */
export class OperationError extends Error {}

/**
 * One line for a failure of a server the CLI talks to (refused, unreachable, timed out, an
 * error Postgres or Redis answered with), so an outage reads as one sentence, not a stack
 * trace. Undefined for anything else: a bug keeps its trace. `lastRedisError` is what the
 * Redis connection last reported, since ioredis's own error for a command it gave up on
 * says only that it gave up.
 */
export function describeServerFailure(err: unknown, lastRedisError?: Error): string | undefined {
  if (!(err instanceof Error)) return undefined
  if (err.name === 'MaxRetriesPerRequestError') return `Redis did not answer${lastRedisError ? ` (${lastRedisError.message || lastRedisError.name})` : ''}`
  if (err.message === 'Command timed out') return 'Redis took the connection but did not answer within 10 s'
  if (err.name === 'ReplyError') return `Redis refused: ${err.message}`
  return describeDatabaseFailure(err)
}
