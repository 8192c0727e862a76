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
    onnotice: () => {},
    connection: { ...options.sessionSettings, application_name: options.applicationName },
  })
  const db = drizzle({ client: sql, schema, casing: 'snake_case' })
  return { db, sql, close: () => sql.end({ timeout: 5 }) }
}

export type Database = ReturnType<typeof createDatabase>['db']
