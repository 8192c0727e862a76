import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { STATE_DIR } from '@tributary/infra'
import { Type } from '@sinclair/typebox'
import { loadConfig, PostgresUrl } from '@tributary/shared'

const cliEnv = Type.Object({
  DATABASE_URL: Type.Optional(PostgresUrl('a postgres:// URL; unset, the CLI uses the local stack that `pnpm start` runs')),
})

const LOCAL_STACK_STATE = join(STATE_DIR, 'stack.json')

export class UsageError extends Error {}

/** DATABASE_URL, or else the URL of the local stack if one was started from this checkout. */
// eslint-disable-next-line no-restricted-properties
export function databaseUrl(source: Record<string, string | undefined> = process.env): string {
  const env = loadConfig(cliEnv, source)
  if (env.DATABASE_URL) return env.DATABASE_URL
  if (existsSync(LOCAL_STACK_STATE)) {
    const state = JSON.parse(readFileSync(LOCAL_STACK_STATE, 'utf8')) as { postgres?: { url?: string } }
    if (state.postgres?.url) return state.postgres.url
  }
  throw new UsageError('DATABASE_URL is not set and no local stack is running here: set DATABASE_URL, or run `pnpm stack:up` (or `pnpm start`) first')
}
