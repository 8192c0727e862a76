import closeWithGrace from 'close-with-grace'
import { Redis } from 'ioredis'
import { ConfigError, createLogger } from '@tributary/shared'
import { createDatabase } from '@tributary/db'
import { loadWorkerConfig } from './config.ts'
import { buildHealthServer } from './health-server.ts'

/**
 * Process entry. Start order: config → connections → health server. Shutdown on
 * SIGINT/SIGTERM runs in reverse: stop serving health, then close Redis and Postgres.
 */
let config
try {
  config = loadWorkerConfig()
} catch (err) {
  console.error(err instanceof ConfigError ? `worker: ${err.message}` : err)
  process.exit(1)
}

const log = createLogger('worker', config.LOG_LEVEL)
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true })
redis.on('error', (err) => log.debug({ err }, 'redis connection error'))
await redis.connect().catch((err: unknown) => log.warn({ err }, 'redis is not reachable yet'))
const { sql, close: closeDatabase } = createDatabase(config.DATABASE_URL, { applicationName: 'tributary-worker', maxConnections: 4 })

const health = buildHealthServer({ redis, sql, logger: log.child({ component: 'http' }) })
closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'closing after an unexpected error')
  else log.info({ signal }, 'shutting down')
  await health.close()
  await redis.quit().catch(() => redis.disconnect())
  await closeDatabase()
})
await health.listen({ port: config.WORKER_PORT, host: config.HOST })
log.info({ port: config.WORKER_PORT }, 'worker started (stream consumption arrives with the persistence worker)')
