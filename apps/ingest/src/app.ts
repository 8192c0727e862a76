import Fastify, { LogController } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createLogger, uuidv7, type Logger } from '@tributary/shared'
import type { IngestConfig } from './config.ts'
import { answerClientError, ApiError, errorHandler, shuttingDown } from './errors.ts'
import { createEventLog, type EventLog } from './event-log/event-log.ts'
import auth from './plugins/auth.ts'
import browserAccess from './plugins/browser-access.ts'
import keyRevocations from './plugins/key-revocations.ts'
import database from './plugins/database.ts'
import redis from './plugins/redis.ts'
import { acceptCompressedBodies, acceptJsonOnly } from './plugins/request-body.ts'
import events from './routes/events.ts'
import health from './routes/health.ts'
import read from './routes/read.ts'
import requestLog from './plugins/request-log.ts'
import metrics from './plugins/metrics.ts'
import apiDocs from './plugins/api-docs.ts'
import segment from './routes/segment.ts'
import sessions from './routes/sessions.ts'

export interface BuildAppOptions {
  config: IngestConfig
  /** A logger to use instead of the default one (tests pass a silent one). */
  logger?: Logger
  /**
   * Replaces the Redis event log. Only the benchmark uses it, to measure the HTTP ceiling:
   * the same routes, parsing and validation with nothing done with the events.
   */
  eventLog?: EventLog
}

/**
 * The ingest API as a function: server.ts and the tests build it the same way, so both
 * validate, limit and log exactly alike.
 *
 * Order: infrastructure plugins (Redis, Postgres + key verifier, auth), then routes. The
 * native and Segment routes sit in separate scopes because Segment accepts any content
 * type as JSON and keeps unknown fields, while the native API is strict.
 */
export async function buildApp({ config, logger, eventLog: eventLogOverride }: BuildAppOptions) {
  const app = Fastify({
    loggerInstance: logger ?? createLogger('ingest', config.LOG_LEVEL),
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : uuidv7()
    },
    requestIdHeader: false,
    logController: new LogController({ disableRequestLogging: true }),
    // Slow clients (slowloris, a stalled upload) are cut off rather than holding sockets.
    connectionTimeout: config.REQUEST_TIMEOUT_MS,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 72_000,
    bodyLimit: config.BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 255 },
    // A 408, 431 or 400 from the HTTP parser in our error body, with a code (errors.ts).
    clientErrorHandler: answerClientError,
    // Our own 503 while closing (the onRequest hook below), not Fastify's, which has no code and no Retry-After.
    return503OnClosing: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Strict everywhere: no silent coercion, no silently dropped fields.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler(errorHandler)
  // First of the onRequest hooks: browsers must be able to read every answer of an
  // ingestion route, the shutting-down 503 below included.
  await app.register(browserAccess)
  // Requests that still arrive while the process shuts down (on keep-alive connections that
  // were busy when it began; Fastify marks their answers `Connection: close`) are refused
  // with the API's 503 shape, `shutting_down` and a Retry-After, so the client retries on
  // another instance; nothing of them is stored. Requests that arrived before are answered
  // in full: Redis and Postgres close in onClose hooks, which run once the HTTP server has.
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', (_request, _reply, done) => done(closing ? shuttingDown() : undefined))
  await app.register(requestLog)
  await app.register(metrics)
  await app.register(apiDocs)
  app.setNotFoundHandler((request) => {
    throw new ApiError(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`)
  })

  await app.register(redis, { url: config.REDIS_URL })
  await app.register(database, { url: config.DATABASE_URL, keyCacheTtlMs: config.KEY_CACHE_TTL_MS })
  await app.register(auth)
  await app.register(keyRevocations, { url: config.REDIS_URL })
  await app.register(health)

  const eventLog = eventLogOverride ?? createEventLog(app.redis, {
    shards: config.STREAM_SHARDS,
    sessionTimeoutMs: config.SESSION_TIMEOUT_MINUTES * 60_000,
    dedupWindowSeconds: config.DEDUP_WINDOW_SECONDS,
    sessionStateTtlSeconds: config.SESSION_STATE_TTL_SECONDS,
    rateLimitPerSecond: config.RATE_LIMIT_EVENTS_PER_SECOND,
    backlogCap: config.STREAM_BACKLOG_CAP,
  })
  const routeOptions = { eventLog, bodyLimit: config.BODY_LIMIT_BYTES }
  await app.register(async (native) => {
    acceptJsonOnly(native)
    acceptCompressedBodies(native)
    await native.register(events, routeOptions)
    await native.register(sessions, routeOptions)
  })
  await app.register(segment, routeOptions)
  app.addPreflightRoutes()
  await app.register(read, { sessionTimeoutMinutes: config.SESSION_TIMEOUT_MINUTES, shards: config.STREAM_SHARDS, syncMinIntervalMs: config.SYNC_MIN_INTERVAL_MS })
  return app
}

export type IngestApp = Awaited<ReturnType<typeof buildApp>>
