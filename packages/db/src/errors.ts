/**
 * The code of an error from the database client: a SQLSTATE (`23505`) or postgres.js's own
 * (`CONNECTION_CLOSED`), on the error itself or on the `cause` Drizzle wraps it in.
 */
export function databaseErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code ?? (err as { cause?: { code?: unknown } } | null)?.cause?.code
  return code === undefined || code === null ? undefined : String(code)
}
