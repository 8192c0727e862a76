import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Reads `.env` at the repository root into process.env, like the shell environment (a
 * variable the shell sets wins). Imported first by `pnpm start` and `pnpm stack:*`, so that
 * modules reading a variable as they load (TRIBUTARY_STATE_DIR in paths.ts, MIGRATIONS_DIR
 * in @tributary/db) see the file's values. The apps, the CLI and the tests read only the
 * environment, as a deployment gives it.
 */
export function loadDotenv(path = fileURLToPath(new URL('../../.env', import.meta.url))): boolean {
  if (!existsSync(path)) return false
  process.loadEnvFile(path)
  return true
}

loadDotenv()
