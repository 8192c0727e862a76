import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'

/** The committed drizzle-kit output at the repository root; MIGRATIONS_DIR where a bundle runs elsewhere (the images). */
// eslint-disable-next-line no-restricted-properties
export const MIGRATIONS_FOLDER = process.env.MIGRATIONS_DIR ?? fileURLToPath(new URL('../../../drizzle', import.meta.url))

/** Where a database stands against the migrations this code ships. */
export interface MigrationState {
  /** Tags (`0011_daily_names`) of the migrations the database has, oldest first. */
  applied: string[]
  /** Tags of the migrations it lacks, in the order they run. */
  pending: string[]
  /** Migrations recorded in the database that are newer than every one this code knows: a newer version migrated it. */
  newer: number
}

interface JournalEntry {
  tag: string
  when: number
}

function journal(folder: string): JournalEntry[] {
  const { entries } = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: JournalEntry[] }
  return entries
}

type Sql = postgres.Sql

/**
 * Drizzle's own rule: a migration is applied when its journal time is at most the latest
 * `created_at` recorded in `drizzle.__drizzle_migrations`, and the migrator runs the others
 * in order.
 */
async function stateOn(sql: Sql, folder: string): Promise<MigrationState> {
  const entries = journal(folder)
  const [table] = await sql<{ exists: boolean }[]>`select to_regclass('drizzle.__drizzle_migrations') is not null as exists`
  const recorded = table!.exists ? (await sql<{ created_at: string }[]>`select created_at::text from drizzle.__drizzle_migrations`).map((r) => Number(r.created_at)) : []
  const latest = recorded.length > 0 ? Math.max(...recorded) : -Infinity
  const newestKnown = entries.length > 0 ? Math.max(...entries.map((e) => e.when)) : -Infinity
  return {
    applied: entries.filter((e) => e.when <= latest).map((e) => e.tag),
    pending: entries.filter((e) => e.when > latest).map((e) => e.tag),
    newer: recorded.filter((at) => at > newestKnown).length,
  }
}

const connect = (url: string) => postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'tributary-migrate' } })

/**
 * Reads, without changing anything, which of this code's migrations the database has: on a
 * connection of its own to `database`, or on a pool the caller already has.
 */
export async function migrationState(database: string | Sql, folder = MIGRATIONS_FOLDER): Promise<MigrationState> {
  if (typeof database !== 'string') return stateOn(database, folder)
  const sql = connect(database)
  try {
    return await stateOn(sql, folder)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/**
 * Applies pending migrations on a dedicated single connection, before any app uses the
 * database, and answers which it applied (oldest first) and where the database stands.
 * Concurrent callers are serialised with an advisory lock so two processes starting at once
 * cannot both run the same migration.
 */
export async function runMigrations(url: string, folder = MIGRATIONS_FOLDER): Promise<{ applied: string[]; state: MigrationState }> {
  const sql = connect(url)
  try {
    await sql`select pg_advisory_lock(hashtext('tributary:migrate'))`
    const before = await stateOn(sql, folder)
    await migrate(drizzle({ client: sql }), { migrationsFolder: folder })
    const state = await stateOn(sql, folder)
    return { applied: before.pending.filter((tag) => state.applied.includes(tag)), state }
  } finally {
    await sql.end({ timeout: 5 })
  }
}
