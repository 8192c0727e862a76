import { emptyDatabase, type Teardown } from '@tributary/servers'
import { createDatabase } from './client.ts'
import { runMigrations } from './migrate.ts'

/** For tests: a fresh database on the test server, migrated, with a Drizzle handle. */
export async function testDatabase(t: Teardown, options: { migrate?: boolean } = {}) {
  const empty = await emptyDatabase(t)
  if (options.migrate !== false) await runMigrations(empty.url)
  const { db, close } = createDatabase(empty.url, { applicationName: 'tributary-test', maxConnections: 5 })
  t.teardown(close)
  return { ...empty, db }
}

export type TestDatabase = Awaited<ReturnType<typeof testDatabase>>
