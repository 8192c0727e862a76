import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: IngestMetrics
  }
}

export interface IngestMetrics {
  registry: Registry
  /** outcome: accepted | duplicate | rejected; reason: the error code of a rejected event (a fixed set). */
  events: Counter<'outcome' | 'reason'>
}

/**
 * Prometheus metrics on GET /metrics, one registry per app (tests build many apps in one
 * process). Labels are bounded: the route pattern (never the raw URL), the status code, and
 * event error codes; never tenant ids or keys.
 * @see https://github.com/siimon/prom-client
 */
export default fp(
  async (app) => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry, prefix: 'tributary_ingest_' })
    const requests = new Counter({ name: 'tributary_http_requests_total', help: 'HTTP requests answered, by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] })
    const duration = new Histogram({
      name: 'tributary_http_request_duration_seconds',
      help: 'Time from request to response, by route and method',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    })
    const events = new Counter({ name: 'tributary_events_total', help: 'Events received, by outcome (accepted, duplicate, rejected) and rejection reason', labelNames: ['outcome', 'reason'], registers: [registry] })
    app.decorate('metrics', { registry, events })

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      requests.inc({ route, method: request.method, status: String(reply.statusCode) })
      duration.observe({ route, method: request.method }, reply.elapsedTime / 1000)
    })

    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.header('content-type', registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)

/** Counts what one ingestion request did with its events. */
export function countEvents(metrics: IngestMetrics, result: { accepted: number; duplicates: number; errors: Array<{ code: string }> }) {
  if (result.accepted) metrics.events.inc({ outcome: 'accepted', reason: '' }, result.accepted)
  if (result.duplicates) metrics.events.inc({ outcome: 'duplicate', reason: '' }, result.duplicates)
  for (const e of result.errors) metrics.events.inc({ outcome: 'rejected', reason: e.code })
}
