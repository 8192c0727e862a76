import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { checkEviction, reconnectOnReadOnly, watchLink } from '@tributary/shared'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

/**
 * The ingest API's Redis connection. No offline queue and one retry per command: while
 * Redis is unreachable a request fails fast (503) instead of piling up in memory and
 * being written late, after its client has given up and retried.
 */
export default fp<{ url: string; onEvicting?: (problem: string) => void }>(
  async (app, { url, onEvicting = exitOnEvicting(app.log) }) => {
    const redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Also what fails a command cut off with its connection (not resent, below): keep it.
      commandTimeout: 2_000,
      connectTimeout: 2_000,
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      keepAlive: 10_000,
      disconnectTimeout: 200,
      // A command cut off with its connection fails (its request has had its 503) rather
      // than running later on the next connection, after its client has retried.
      autoResendUnfulfilledCommands: false,
      // After a failover that left this connection on the old primary (READONLY): remake it;
      // the failed command is not sent again (its request has had its 503).
      reconnectOnError: reconnectOnReadOnly(1),
    })
    redis.on('error', (err) => app.log.debug({ err }, 'redis connection error'))
    // Acknowledging events that Redis may evict would break the promise of a 2xx, so ingest
    // refuses to run on such a server: checked before it listens, and again on every
    // reconnection (a failover may land on a server configured otherwise).
    const checkPolicy = async () => {
      const { problem, warning } = await checkEviction(redis)
      if (warning) app.log.warn(warning)
      if (problem) onEvicting(problem)
    }
    try {
      await redis.connect()
      await checkPolicy()
    } catch (err) {
      // Start anyway: readiness reports Redis down and the client keeps reconnecting.
      app.log.warn({ err }, 'redis is not reachable yet')
    }
    redis.on('ready', () => void checkPolicy())
    // A link that dies silently would time every command out (503s) until the kernel gives
    // up on it, ~15 minutes; a PING unanswered within the command timeout remakes it.
    const stopWatchingLink = watchLink(redis, app.log, { everyMs: 2_000, deadlineMs: 2_000 })
    app.decorate('redis', redis)
    app.addHook('onClose', async () => {
      stopWatchingLink()
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: 'redis' },
)

/** Exits: an orchestrator restarts ingest, which refuses again until Redis is fixed, and the log says why. */
function exitOnEvicting(log: { fatal(msg: string): void }) {
  return (problem: string) => {
    log.fatal(`${problem}. Ingest does not accept events on such a server; exiting`)
    process.exit(1)
  }
}
