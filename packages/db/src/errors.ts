/**
 * The code of an error from the database client: a SQLSTATE (`23505`) or postgres.js's own
 * (`CONNECTION_CLOSED`), on the error itself or on the `cause` Drizzle wraps it in.
 */
export function databaseErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code ?? (err as { cause?: { code?: unknown } } | null)?.cause?.code
  return code === undefined || code === null ? undefined : String(code)
}

/** SQLSTATE of a lock wait past lock_timeout. */
export const LOCK_NOT_AVAILABLE = '55P03'

/** Codes of a connection that failed or could not be made: postgres.js's own and Node's (ECONNREFUSED, EAI_AGAIN…). */
const CONNECTION_FAILURE = /^(CONNECT_TIMEOUT|CONNECTION_[A-Z]+|E[A-Z_]+)$/

/**
 * Whether a retry can cure the error: the server unreachable, restarting or shutting down
 * (the client's own codes and Node's, 08xxx, 57P01-57P03), out of connections or resources
 * (53xxx), read-only after a failover (25006), a serialization failure or deadlock (40001,
 * 40P01), a statement timeout (57014). Anything else (a query the server refuses as written,
 * a time zone it does not know) fails the same way on every retry.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  const code = databaseErrorCode(err)
  if (code === undefined) return false
  return CONNECTION_FAILURE.test(code) || /^(08...|57P0[123]|53...|25006|40001|40P01|57014)$/.test(code)
}

/**
 * One line for a failure to reach Postgres or a statement it refused, for command-line
 * tools (an outage reads as one sentence, not a stack trace); undefined for anything else,
 * which keeps its trace.
 */
export function describeDatabaseFailure(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  const cause = err.cause instanceof Error ? err.cause : err
  const code = databaseErrorCode(err)
  // Node's connect fails with an AggregateError and no message when every address refused.
  const message = cause.message || (cause instanceof AggregateError ? cause.errors.map((e: Error) => e.message).join('; ') : '') || String(code)
  if (cause.name === 'PostgresError') return `Postgres refused: ${message} (${code})`
  if (code !== undefined && CONNECTION_FAILURE.test(code)) return `${message}${code === 'CONNECT_TIMEOUT' ? ' (Postgres did not answer)' : ''}`
  return undefined
}
