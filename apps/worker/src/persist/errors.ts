import { databaseErrorCode } from '@tributary/db'

/**
 * Which database errors a retry can cure. Transient: the server restarting or shutting down
 * (57P01-57P03), connection failures (08xxx and the client's own codes), read-only after a
 * failover (25006), too many connections (53300), serialization failures and deadlocks
 * (40001, 40P01), timeouts (57014). These are retried with backoff for as long as they
 * last and never dead-lettered. Permanent: the data itself is refused — cardinality
 * violations (21000: an upsert meeting one row twice, which buildRows prevents), data
 * exceptions (22xxx: bad text, NUL, out of range), integrity violations (23xxx: a deleted
 * tenant's foreign key, not-null, check), program limits (54xxx), and entries that cannot be made
 * into rows at all (UnwritableEntries). Those are isolated by bisecting
 * the batch. Anything unrecognised counts as transient: retrying is safe, dead-lettering
 * good events is not.
 */
export type ErrorKind = 'transient' | 'permanent'

/**
 * Entries that decode but cannot be made into rows (an event time that is no time, a
 * session entry with no session): only a write that bypassed ingest makes one, and it
 * fails the same way every time, so it is permanent (bisected and dead-lettered), where an
 * unrecognised error would be retried for ever and hold its whole batch back.
 */
export class UnwritableEntries extends Error {
  readonly code = 'unwritable'
  constructor(reason: unknown) {
    super(`the entry cannot be made into rows: ${reason instanceof Error ? reason.message : String(reason)}`)
    this.name = 'UnwritableEntries'
  }
}

export function classify(err: unknown): ErrorKind {
  if (err instanceof UnwritableEntries) return 'permanent'
  const code = databaseErrorCode(err) ?? ''
  if (/^(21|22|23|54)/.test(code) && code !== '23505') return 'permanent'
  return 'transient'
}

export function errorCode(err: unknown): string {
  return databaseErrorCode(err) ?? 'unknown'
}

export function errorMessage(err: unknown): string {
  const cause = (err as { cause?: Error }).cause
  return cause?.message ?? (err as Error).message ?? String(err)
}
