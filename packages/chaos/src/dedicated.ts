import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startPostgres, startRedis, type RunningServer } from '@tributary/servers'

/**
 * Servers of a scenario's own, so a fault can stop and restart them: Redis with the shipped
 * settings (AOF, appendfsync always) and a Postgres cluster, on free ports.
 */
export async function dedicatedServers() {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-chaos-'))
  chmodSync(dir, 0o755)
  const redisPort = await freePort()
  const postgresPort = await freePort()
  const redisOptions = { port: redisPort, dir: join(dir, 'redis'), appendfsync: 'always' as const }
  const postgresOptions = { port: postgresPort, dataDir: join(dir, 'pg'), fsync: false }
  let redis: RunningServer = await startRedis(redisOptions)
  let postgres: RunningServer = await startPostgres(postgresOptions)
  return {
    redisUrl: redis.url,
    databaseUrl: postgres.url,
    /** Stops Postgres for `ms`, then starts it again. */
    async stopPostgresFor(ms: number) {
      await postgres.stop()
      await new Promise((r) => setTimeout(r, ms))
      postgres = await startPostgres(postgresOptions)
    },
    /** SIGKILLs Redis (a crash: only what the AOF holds survives), waits `ms`, starts it again. */
    async crashRedisFor(ms: number) {
      process.kill(redis.pid, 'SIGKILL')
      await new Promise((r) => setTimeout(r, ms))
      redis = await startRedis(redisOptions)
    },
    async stop() {
      await Promise.all([redis.stop(), postgres.stop()])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
