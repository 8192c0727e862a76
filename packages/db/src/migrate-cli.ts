import { collationAdvice, databaseCollation } from './collation.ts'
import { runMigrations } from './migrate.ts'

// `pnpm db:migrate`: the one place outside an app's config that reads DATABASE_URL.
// eslint-disable-next-line no-restricted-properties
const url = process.env.DATABASE_URL
if (!url) {
  console.error('DATABASE_URL is not set. Set it to a postgres:// URL, or run `pnpm start`, which migrates the local stack itself.')
  process.exit(2)
}
const started = Date.now()
await runMigrations(url)
console.log(`migrations applied in ${Date.now() - started} ms`)
// Advice only: the migrations are applied, so a failure here must not fail the command
// (compose and the k8s Job start the apps on its exit code).
try {
  const advice = collationAdvice(await databaseCollation(url))
  if (advice) console.warn(`warning: ${advice}`)
} catch (err) {
  console.warn(`warning: could not read the database's collation: ${err instanceof Error ? err.message : String(err)}`)
}
