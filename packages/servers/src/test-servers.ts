import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.ts'
import { startPostgres } from './postgres-server.ts'
import { startRedis, type RunningServer } from './redis-server.ts'

export interface TestServers {
  redisUrl: string
  databaseUrl: string
  redis: RunningServer
  postgres: RunningServer
  stop(): Promise<void>
}

/** Databases on the throwaway Redis: each test file takes its own. */
export const TEST_REDIS_DATABASES = 64

/**
 * Throwaway redis-server and Postgres on free ports, data in a temp folder (reachable by the
 * `postgres` user when we are root) that stop() removes. Postgres runs with fsync off.
 */
export async function startTestServers(options: { appendfsync?: 'always' | 'everysec'; postgresFsync?: boolean } = {}): Promise<TestServers> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-test-'))
  // mkdtemp makes it 0700; the postgres user must be able to pass through it.
  chmodSync(dir, 0o755)
  const [redisPort, postgresPort] = [await freePort(), await freePort()]
  const started = await Promise.allSettled([
    startRedis({ port: redisPort, dir: join(dir, 'redis'), databases: TEST_REDIS_DATABASES, noSnapshots: true, appendfsync: options.appendfsync ?? 'everysec' }),
    startPostgres({ port: postgresPort, dataDir: join(dir, 'postgres'), fsync: options.postgresFsync ?? false }),
  ])
  const [redisResult, postgresResult] = started
  if (redisResult.status === 'rejected' || postgresResult.status === 'rejected') {
    // Leave nothing behind when only one of the two came up.
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)))
    rmSync(dir, { recursive: true, force: true })
    throw redisResult.status === 'rejected' ? redisResult.reason : (postgresResult as PromiseRejectedResult).reason
  }
  const [redis, postgres] = [redisResult.value, postgresResult.value]
  return {
    redisUrl: redis.url,
    databaseUrl: postgres.url,
    redis,
    postgres,
    async stop() {
      await Promise.all([redis.stop(), postgres.stop()])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
