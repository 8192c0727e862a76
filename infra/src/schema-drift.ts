import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { REPO_ROOT } from './paths.ts'

/**
 * Part of `pnpm db:check`: fails when the Drizzle schema has changed without a generated
 * migration. drizzle-kit generate runs against a scratch copy of drizzle/, and any new
 * file there means `pnpm db:generate --name=<what_changed>` was forgotten.
 */
const scratch = join(REPO_ROOT, 'node_modules', '.cache', 'drizzle-drift')
rmSync(scratch, { recursive: true, force: true })
mkdirSync(scratch, { recursive: true })
cpSync(join(REPO_ROOT, 'drizzle'), scratch, { recursive: true })
const before = readdirSync(scratch).length

const result = spawnSync(
  'drizzle-kit',
  ['generate', '--dialect=postgresql', '--schema=./packages/db/src/schema/index.ts', `--out=./${relative(REPO_ROOT, scratch)}`, '--casing=snake_case', '--name=drift'],
  { cwd: REPO_ROOT, encoding: 'utf8' },
)
const after = readdirSync(scratch).length
rmSync(scratch, { recursive: true, force: true })
if (result.status !== 0) {
  console.error(result.stdout, result.stderr)
  process.exit(1)
}
if (after !== before) {
  console.error('The Drizzle schema differs from the committed migrations: run `pnpm db:generate --name=<what_changed>` and commit drizzle/.')
  process.exit(1)
}
console.log('schema matches the committed migrations')
