import { fileURLToPath } from 'node:url'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'

/** The committed drizzle-kit output at the repository root; MIGRATIONS_DIR where a bundle runs elsewhere (the images). */
// eslint-disable-next-line no-restricted-properties
export const MIGRATIONS_FOLDER = process.env.MIGRATIONS_DIR ?? fileURLToPath(new URL('../../../drizzle', import.meta.url))

/**
 * Applies pending migrations on a dedicated single connection, before any app uses the
 * database. Concurrent callers are serialised with an advisory lock so two processes
 * starting at once cannot both run the same migration.
 */
export async function runMigrations(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'tributary-migrate' } })
  try {
    await sql`select pg_advisory_lock(hashtext('tributary:migrate'))`
    await migrate(drizzle({ client: sql }), { migrationsFolder: MIGRATIONS_FOLDER })
  } finally {
    await sql.end({ timeout: 5 })
  }
}
