import { databaseErrorCode } from '@tributary/db'

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
  const cause = err.cause instanceof Error ? err.cause : err
  const code = databaseErrorCode(err)
  // Node's connect fails with an AggregateError and no message when every address refused.
  const message = cause.message || (cause instanceof AggregateError ? cause.errors.map((e: Error) => e.message).join('; ') : '') || String(code)
  if (err.name === 'MaxRetriesPerRequestError') return `Redis did not answer${lastRedisError ? ` (${lastRedisError.message || lastRedisError.name})` : ''}`
  if (err.message === 'Command timed out') return 'Redis took the connection but did not answer within 10 s'
  if (err.name === 'ReplyError') return `Redis refused: ${message}`
  if (cause.name === 'PostgresError') return `Postgres refused: ${message} (${code})`
  if (code !== undefined && /^(E[A-Z]+|CONNECT_TIMEOUT|CONNECTION_[A-Z]+)$/.test(code)) return `${message}${code === 'CONNECT_TIMEOUT' ? ' (Postgres did not answer)' : ''}`
  return undefined
}
