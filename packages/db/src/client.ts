import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema/index.ts'

export interface DatabaseOptions {
  /** Shown in pg_stat_activity, so an operator can tell ingest, worker and CLI connections apart. */
  applicationName: string
  maxConnections?: number
  /** Server settings for every session of the pool (startup parameters), e.g. idle_in_transaction_session_timeout. */
  sessionSettings?: Record<string, string | number>
}

/** One postgres.js pool and the Drizzle handle over it; `close()` ends the pool. */
export function createDatabase(url: string, options: DatabaseOptions) {
  const sql = postgres(url, {
    max: options.maxConnections ?? 10,
    idle_timeout: 30,
    max_lifetime: 60 * 30,
    connect_timeout: 10,
    // Seconds to wait before reconnecting after connection errors. postgres.js's default grows
    // as 3^n / 100 up to 20 s, so after an outage of a few seconds the first query once
    // Postgres is back waited 10–20 s (seen as 16 s answers in the Postgres-stopped chaos run).
    // Capped at 1 s: one attempt a second per connection is cheap, and recovery is prompt.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    onnotice: () => {},
    connection: { ...options.sessionSettings, application_name: options.applicationName },
    // A connection that lands on a read-only server (a replica behind a stale DNS name after
    // a failover) is dropped at once and its query fails as a lost connection, which callers
    // retry, instead of being kept for max_lifetime while every write fails with 25006.
    target_session_attrs: 'read-write',
  })
  const db = drizzle({ client: sql, schema, casing: 'snake_case' })
  return { db, sql, close: () => sql.end({ timeout: 5 }) }
}

export type Database = ReturnType<typeof createDatabase>['db']
