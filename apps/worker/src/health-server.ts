import Fastify, { LogController } from 'fastify'
import type { Redis } from 'ioredis'
import type postgres from 'postgres'
import type { Logger } from '@tributary/shared'

export interface HealthServerOptions {
  redis: Redis
  sql: postgres.Sql
  logger: Logger
  /** When a read from the streams last succeeded (0: none yet), and how stale that may get before the worker is not ready. */
  loop?: { lastTurnAt(): number; maxAgeMs: number }
  /** Counters to show on /readyz. */
  stats?: () => unknown
  /** Served on /metrics in the Prometheus text format. */
  metrics?: { contentType: string; metrics(): Promise<string> }
}

/**
 * How long a readiness check waits for Redis or Postgres: under Kubernetes's default probe
 * timeout (1 s), so a server that does not answer (down at start, a silent link) gives a 503
 * that names it rather than no answer at all.
 */
export const PROBE_DEADLINE_MS = 900

async function probe(run: () => Promise<unknown>) {
  let timer: NodeJS.Timeout | undefined
  try {
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_DEADLINE_MS} ms`)), PROBE_DEADLINE_MS)))
    await Promise.race([run(), deadline])
    return { ok: true }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

/** The worker's small HTTP side: liveness and readiness for orchestrators. */
export function buildHealthServer({ redis, sql, logger, loop, stats, metrics }: HealthServerOptions) {
  const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    // A PING while not connected would wait in the offline queue past the deadline, and stay
    // there: answered at once instead.
    const ping = () => (redis.status === 'ready' ? redis.ping() : Promise.reject(new Error(`not connected (${redis.status})`)))
    const [redisCheck, postgresCheck] = await Promise.all([probe(ping), probe(() => sql`select 1`)])
    const lastRead = loop?.lastTurnAt() ?? 0
    const age = Date.now() - lastRead
    const loopCheck = !loop || age <= loop.maxAgeMs ? { ok: true } : { ok: false, error: lastRead === 0 ? 'no read from the streams has succeeded yet' : `the last read from the streams succeeded ${age} ms ago` }
    const ready = redisCheck.ok && postgresCheck.ok && loopCheck.ok
    return reply.code(ready ? 200 : 503).send({ ready, checks: { redis: redisCheck, postgres: postgresCheck, loop: loopCheck }, ...(stats ? { stats: stats() } : {}) })
  })
  if (metrics) {
    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.header('content-type', metrics.contentType)
      return metrics.metrics()
    })
  }
  return app
}
