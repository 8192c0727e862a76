import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { KEY_REVOCATIONS_CHANNEL } from '@tributary/shared'

/**
 * Revocations reach every ingest process at once: `pnpm tributary keys revoke` publishes on
 * KEY_REVOCATIONS_CHANNEL and each process drops its cached key checks. A process that was
 * disconnected may have missed a message, so it drops them on every (re)subscribe too.
 * Without Redis pub/sub the cache TTL (KEY_CACHE_TTL_MS) still bounds the delay.
 */
export default fp<{ url: string }>(
  async (app, { url }) => {
    const subscriber = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, keepAlive: 10_000, retryStrategy: (n) => Math.min(n * 200, 2_000) })
    subscriber.on('error', (err) => app.log.debug({ err }, 'revocation subscriber error'))
    subscriber.on('message', () => app.keys.clear())
    subscriber.on('ready', () => {
      app.keys.clear()
      void subscriber.subscribe(KEY_REVOCATIONS_CHANNEL).catch(() => {})
    })
    await subscriber.connect().catch((err: unknown) => app.log.warn({ err }, 'revocation subscriber not connected yet'))
    app.addHook('onClose', async () => subscriber.disconnect())
  },
  { name: 'key-revocations', dependencies: ['database'] },
)
