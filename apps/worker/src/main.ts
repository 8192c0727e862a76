import { allStreamKeys, checkEviction, ConfigError, createLogger, watchLink } from '@tributary/shared'
import { createDatabase } from '@tributary/db'
import { loadWorkerConfig } from './config.ts'
import { buildHealthServer } from './health-server.ts'
import { createWorkerMetrics } from './metrics.ts'
import { WORKER_APPLICATION_PREFIX } from './persist/stuck-writers.ts'
import { createRedisClients, LINK_CHECK } from './redis-clients.ts'
import { Worker } from './worker.ts'

/**
 * Process entry. Start: config → connections (not awaited) → health server → consumer, once
 * Redis answers.
 * SIGTERM/SIGINT: stop reading, finish and acknowledge the batch in hand, stop serving
 * health, close Redis and Postgres, exit 0. A second signal, or SHUTDOWN_TIMEOUT_MS without
 * finishing (Postgres down, say), exits at once: unacknowledged entries stay pending and
 * are re-read by this consumer name or taken over by a peer, so nothing is lost.
 */
const SHUTDOWN_TIMEOUT_MS = 30_000

let config
try {
  config = loadWorkerConfig()
} catch (err) {
  console.error(err instanceof ConfigError ? `worker: ${err.message}` : err)
  process.exit(1)
}

const log = createLogger('worker', config.LOG_LEVEL)
const { redis, blocking } = createRedisClients(config.REDIS_URL)
const stopWatchingLink = watchLink(redis, log, LINK_CHECK)
for (const client of [redis, blocking]) client.on('error', (err) => log.debug({ err }, 'redis connection error'))
// A worker cannot undo what an evicting Redis loses, and stopping it would only grow the
// backlog, so it says so on every connection and goes on (ingest refuses to run on such a server).
const checkPolicy = async () => {
  const { problem, warning } = await checkEviction(redis)
  if (problem) log.error(`${problem}. Events may be lost until it is`)
  else if (warning) log.warn(warning)
}
redis.on('ready', () => void checkPolicy().catch((err: unknown) => log.warn({ err }, "could not read Redis's eviction policy")))
// Not awaited: with Redis down or silent at start, the health server must come up meanwhile
// (below); worker.start() waits for Redis instead, and the clients keep reconnecting.
void Promise.all([redis.connect(), blocking.connect()]).catch((err: unknown) => log.warn({ err }, 'redis is not reachable yet'))
const { db, sql, close: closeDatabase } = createDatabase(config.DATABASE_URL, {
  applicationName: `${WORKER_APPLICATION_PREFIX}${config.WORKER_NAME}`,
  maxConnections: config.WRITE_CONCURRENCY + 2,
  // A transaction left waiting on this worker (cut off or frozen between two statements) is
  // ended by Postgres, releasing the row locks a peer taking its entries over would wait on.
  sessionSettings: { idle_in_transaction_session_timeout: config.TRANSACTION_IDLE_TIMEOUT_MS },
})

const metrics = createWorkerMetrics(redis, allStreamKeys(config.STREAM_SHARDS))
const worker = new Worker({ config, redis, blocking, db, log, observeBatch: metrics.observeBatch })
metrics.attach(worker.stats)
const health = buildHealthServer({
  redis,
  sql,
  logger: log.child({ component: 'http' }),
  loop: { lastTurnAt: () => worker.stats.lastLoopAt, maxAgeMs: config.READ_BLOCK_MS + 60_000 },
  stats: () => worker.stats,
  metrics: metrics.registry,
})

// A write attempt can legitimately take a few statements, each bounded by STATEMENT_TIMEOUT_MS
// on the server. One still unanswered long after that means the link to Postgres is dead
// but not closed (a black hole): postgres.js would wait for the kernel to notice, for many
// minutes. Peers have taken the entries over by then; exiting lets the orchestrator restart
// this worker with fresh connections, and whatever it still holds stays pending.
const WRITE_DEADLINE_MS = 4 * config.STATEMENT_TIMEOUT_MS + config.TRANSACTION_IDLE_TIMEOUT_MS
const watchdog = setInterval(() => {
  const age = worker.oldestWriteAgeMs()
  if (age <= WRITE_DEADLINE_MS) return
  log.fatal({ waitedMs: age, deadlineMs: WRITE_DEADLINE_MS }, 'a write to Postgres has had no answer for too long (the connection is dead but not closed); exiting so the worker restarts — unacknowledged entries stay pending')
  process.exit(1)
}, 1_000)
watchdog.unref()

let stopping = false
async function shutdown(signal: string) {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  stopping = true
  log.info({ signal }, 'shutting down: finishing the batch in hand')
  const force = setTimeout(() => {
    log.error('shutdown took too long; exiting with entries left pending (they will be redelivered)')
    process.exit(1)
  }, SHUTDOWN_TIMEOUT_MS)
  force.unref()
  await worker.stop()
  await health.close()
  stopWatchingLink()
  // QUIT on a connection that is not up would wait in the offline queue (behind whatever
  // waits there) until the force timer.
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
  blocking.disconnect()
  await closeDatabase()
  log.info({ stats: worker.stats }, 'stopped')
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

// Health first: with Redis down at start, worker.start() waits for it (making the groups),
// and a liveness probe finding no server would restart the pod again and again (its back-off
// then delaying the start long after Redis is back). /readyz says what is missing meanwhile.
await health.listen({ port: config.WORKER_PORT, host: config.HOST })
// The read connection has no offline queue (redis-clients.ts): reads before it is ready would
// fail and hold the first ones back a second.
if (blocking.status !== 'ready') {
  const waitingSince = Date.now()
  const saying = setInterval(() => log.warn({ waitedMs: Date.now() - waitingSince, read: blocking.status, commands: redis.status }, 'waiting for Redis before consuming'), 30_000)
  await new Promise((resolve) => blocking.once('ready', resolve))
  clearInterval(saying)
}
try {
  await worker.start()
} catch (err) {
  // Shutting down while it made the groups (its connection closed under it): shutdown() exits.
  if (!stopping) throw err
}
if (!stopping) log.info({ consumer: config.WORKER_NAME, shards: config.STREAM_SHARDS }, 'worker consuming')
