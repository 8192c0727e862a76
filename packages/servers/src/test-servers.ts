import { spawn, type ChildProcess } from 'node:child_process'
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
  /** Their data and logs; stop() removes it. */
  dir: string
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
  const watchdog = startWatchdog(process.pid, { redis: redis.pid, postgres: postgres.pid }, dir)
  return {
    redisUrl: redis.url,
    databaseUrl: postgres.url,
    redis,
    postgres,
    dir,
    async stop() {
      // First, so that it cannot signal these pids once they are free for reuse.
      watchdog.kill('SIGKILL')
      await Promise.all([redis.stop(), postgres.stop()])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * The servers run in their own process groups (so Ctrl-C reaches them only through stop()),
 * which also means they outlive an owner that dies without calling stop(): a test file tap
 * kills at its timeout, a SIGKILLed bench. A detached shell checks every second whether the
 * owner is alive and, once it is not, stops both servers (Postgres' immediate shutdown,
 * Redis' SIGTERM, SIGKILL for either after 10 s) and removes their folder.
 */
function startWatchdog(owner: number, pids: { redis: number; postgres: number }, dir: string): ChildProcess {
  const script = `
    while kill -0 ${owner} 2>/dev/null; do sleep 1; done
    kill -QUIT ${pids.postgres} 2>/dev/null; kill -TERM ${pids.redis} 2>/dev/null
    for i in $(seq 100); do
      kill -0 ${pids.postgres} 2>/dev/null || kill -0 ${pids.redis} 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL ${pids.postgres} ${pids.redis} 2>/dev/null
    rm -rf '${dir}'`
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
  child.unref()
  return child
}
