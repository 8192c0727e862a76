import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createLogger, uuidv7, type Logger } from '@tributary/shared'
import type { IngestConfig } from './config.ts'
import database from './plugins/database.ts'
import redis from './plugins/redis.ts'
import health from './routes/health.ts'

export interface BuildAppOptions {
  config: IngestConfig
  /** A logger to use instead of the default one (tests pass a silent one). */
  logger?: Logger
}

/**
 * The ingest API as a function: server.ts and the tests build it the same way, so both
 * validate, limit and log exactly alike.
 */
export async function buildApp({ config, logger }: BuildAppOptions) {
  const app = Fastify({
    loggerInstance: logger ?? createLogger('ingest', config.LOG_LEVEL),
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : uuidv7()
    },
    requestIdHeader: false,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(redis, { url: config.REDIS_URL })
  await app.register(database, { url: config.DATABASE_URL, keyCacheTtlMs: config.KEY_CACHE_TTL_MS })
  await app.register(health)
  return app
}

export type IngestApp = Awaited<ReturnType<typeof buildApp>>
