import fp from 'fastify-plugin'
import { routineRefusals } from '../errors.ts'

/**
 * One log line per request, when it ends: id, method, route, status and time. Fastify's own
 * two lines per request are turned off (disableRequestLogging). 5xx at error, 4xx at warn,
 * the rest at info (and routine 503s: errors.ts, routineRefusals); health checks and metrics scrapes at debug, so they do not drown the log.
 * Headers are never logged, so keys cannot leak through them.
 */
export default fp(
  async (app) => {
    app.addHook('onResponse', async (request, reply) => {
      const status = reply.statusCode
      const route = request.routeOptions.url ?? 'unknown'
      const line = { reqId: request.id, method: request.method, route, status, ms: Math.round(reply.elapsedTime * 10) / 10 }
      if (routineRefusals.has(request)) request.log.info(line, 'request refused while shutting down')
      else if (status >= 500) request.log.error(line, 'request failed')
      else if (status >= 400) request.log.warn(line, 'request refused')
      else if (route === '/healthz' || route === '/readyz' || route === '/metrics') request.log.debug(line, 'request')
      else request.log.info(line, 'request')
    })
  },
  { name: 'request-log' },
)
