import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

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
export default fp<{ url: string }>(
  async (app, { url }) => {
    const redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      connectTimeout: 2_000,
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    })
    redis.on('error', (err) => app.log.debug({ err }, 'redis connection error'))
    try {
      await redis.connect()
    } catch (err) {
      // Start anyway: readiness reports Redis down and the client keeps reconnecting.
      app.log.warn({ err }, 'redis is not reachable yet')
    }
    app.decorate('redis', redis)
    app.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: 'redis' },
)
