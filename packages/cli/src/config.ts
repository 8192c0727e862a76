import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { STATE_DIR } from '@tributary/infra'
import { Type } from '@sinclair/typebox'
import { loadConfig, PositiveInt, PostgresUrl, RedisUrl } from '@tributary/shared'

const cliEnv = Type.Object({
  DATABASE_URL: Type.Optional(PostgresUrl('a postgres:// URL; unset, the CLI uses the local stack that `pnpm start` runs')),
  REDIS_URL: Type.Optional(RedisUrl('a redis:// URL; unset, the CLI uses the local stack that `pnpm start` runs')),
  STREAM_SHARDS: PositiveInt(4, 'number of event streams', 256),
  SESSION_TIMEOUT_MINUTES: PositiveInt(30, 'idle minutes after which a session ends', 24 * 60),
})

const LOCAL_STACK_STATE = join(STATE_DIR, 'stack.json')

export class UsageError extends Error {}

function localStack(): { postgres?: { url?: string }; redis?: { url?: string } } {
  return existsSync(LOCAL_STACK_STATE) ? JSON.parse(readFileSync(LOCAL_STACK_STATE, 'utf8')) : {}
}

/** DATABASE_URL, or else the URL of the local stack if one was started from this checkout. */
// eslint-disable-next-line no-restricted-properties
export function databaseUrl(source: Record<string, string | undefined> = process.env): string {
  const url = loadConfig(cliEnv, source).DATABASE_URL ?? localStack().postgres?.url
  if (url) return url
  throw new UsageError('DATABASE_URL is not set and no local stack is running here: set DATABASE_URL, or run `pnpm stack:up` (or `pnpm start`) first')
}

/** REDIS_URL, or else the local stack's. */
// eslint-disable-next-line no-restricted-properties
export function redisUrl(source: Record<string, string | undefined> = process.env): string {
  const url = loadConfig(cliEnv, source).REDIS_URL ?? localStack().redis?.url
  if (url) return url
  throw new UsageError('REDIS_URL is not set and no local stack is running here: set REDIS_URL, or run `pnpm stack:up` (or `pnpm start`) first')
}

// eslint-disable-next-line no-restricted-properties
export function streamShards(source: Record<string, string | undefined> = process.env): number {
  return loadConfig(cliEnv, source).STREAM_SHARDS
}

// eslint-disable-next-line no-restricted-properties
export function sessionTimeoutMinutes(source: Record<string, string | undefined> = process.env): number {
  return loadConfig(cliEnv, source).SESSION_TIMEOUT_MINUTES
}
