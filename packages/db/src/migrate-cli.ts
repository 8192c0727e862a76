import { collationAdvice, databaseCollation } from './collation.ts'
import { describeDatabaseFailure } from './errors.ts'
import { migrationState, runMigrations, type MigrationState } from './migrate.ts'

// `pnpm db:migrate [--status]`: applies the pending migrations, or with --status only says
// which the database has and lacks. Exit 2 on a usage error or a missing DATABASE_URL.
const USAGE = 'usage: pnpm db:migrate [--status]   (--status: list applied and pending migrations, change nothing)'
const args = process.argv.slice(2)
if (args.length > 1 || (args.length === 1 && args[0] !== '--status')) {
  console.error(`unknown argument${args.length > 1 ? 's' : ''}: ${args.join(' ')}\n${USAGE}`)
  process.exit(2)
}
const statusOnly = args[0] === '--status'

// The one place outside an app's config that reads DATABASE_URL.
// eslint-disable-next-line no-restricted-properties
const url = process.env.DATABASE_URL
if (!url) {
  console.error('DATABASE_URL is not set. Set it to a postgres:// URL, or run `pnpm start`, which migrates the local stack itself.')
  process.exit(2)
}

const latest = (state: MigrationState) => state.applied.at(-1) ?? 'none'
function warnIfNewer(state: MigrationState) {
  if (state.newer > 0) {
    console.warn(`warning: the database records ${state.newer} migration${state.newer === 1 ? '' : 's'} newer than this code's latest (${latest(state)}): a newer version migrated it; code this old may not work on it`)
  }
}

// An unreachable database or a refused statement is one line and exit 1, not a stack trace.
process.on('uncaughtException', (err) => {
  const line = describeDatabaseFailure(err)
  console.error(line ? `db:migrate: ${line}` : err)
  process.exit(1)
})

if (statusOnly) {
  const state = await migrationState(url)
  for (const tag of state.applied) console.log(`applied  ${tag}`)
  for (const tag of state.pending) console.log(`pending  ${tag}`)
  console.log(state.pending.length === 0 ? `up to date at ${latest(state)}` : `${state.pending.length} pending: run \`pnpm db:migrate\` (see infra/README.md for the order of a rollout)`)
  warnIfNewer(state)
  process.exit(0)
}

const started = Date.now()
const { applied, state } = await runMigrations(url)
const took = `${Date.now() - started} ms`
console.log(applied.length > 0 ? `applied ${applied.join(', ')} in ${took}; the database is at ${latest(state)}` : `nothing to apply: the database is at ${latest(state)} (${took})`)
warnIfNewer(state)
// Advice only: the migrations are applied, so a failure here must not fail the command
// (compose and the k8s Job start the apps on its exit code).
try {
  const advice = collationAdvice(await databaseCollation(url))
  if (advice) console.warn(`warning: ${advice}`)
} catch (err) {
  console.warn(`warning: could not read the database's collation: ${err instanceof Error ? err.message : String(err)}`)
}
