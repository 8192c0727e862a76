import { Type } from '@sinclair/typebox'
import { LogLevel, PositiveInt, PostgresUrl, RedisUrl } from './env-types.ts'

/** Variables both apps read, with the same meaning and defaults. */
export const commonEnv = {
  DATABASE_URL: PostgresUrl('a postgres:// URL, e.g. postgres://user@127.0.0.1:5432/tributary'),
  REDIS_URL: RedisUrl('a redis:// URL, e.g. redis://127.0.0.1:6379'),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'address to listen on (0.0.0.0 in a container)' }),
  LOG_LEVEL: LogLevel,
  STREAM_SHARDS: PositiveInt(4, 'number of event streams tributary:events:{0..N-1}; never lower it while entries remain', 256),
  SESSION_TIMEOUT_MINUTES: PositiveInt(30, 'idle minutes after which a session ends', 24 * 60),
}
