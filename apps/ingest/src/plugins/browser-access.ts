import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** The paths browsers send to: native events and sessions, and every Segment path. */
const INGESTION = /^\/(api\/v2\/analytics\/(events|sessions)|v1)(\/|\?|$)/

/** What a browser may read of an answer beyond the basics: when to retry after a 429 or 503. */
const EXPOSED = 'Retry-After, X-RateLimit-Reset'
/** The request headers a preflight allows when it names none, or names some that are not plain tokens. */
const ALLOWED_HEADERS = 'authorization, content-type, content-encoding'
const HEADER_LIST = /^[\w-]+(\s*,\s*[\w-]+)*$/

/**
 * CORS for the ingestion routes, from any origin. Write keys are public by design (they
 * ship inside web pages), so limiting origins would protect nothing; without CORS a browser
 * could not read an answer, and a call with an `Authorization` header or a JSON content type
 * would never be sent (its preflight found no route). Every request to an ingestion path is
 * answered with `Access-Control-Allow-Origin: *` — refusals included, even the 503 of a
 * process shutting down, so this plugin's hook must be registered before the app's other
 * onRequest hooks — and every POST route there gets an OPTIONS route for the preflight
 * (`addPreflightRoutes`, once the routes are registered). The preflight allows the headers
 * the browser asks for (SDKs send their own, such as RudderStack's `AnonymousId`). No
 * credentials (cookies) are involved, so `*` is allowed with an Authorization header. The
 * read routes, whose keys are secret, get no CORS: they are meant for servers.
 */
export default fp(
  async (app) => {
    const urls = new Set<string>()
    app.addHook('onRoute', (route) => {
      if (route.method === 'POST' && INGESTION.test(route.url)) urls.add(route.url)
    })
    app.addHook('onRequest', (request, reply, done) => {
      if (INGESTION.test(request.url)) reply.header('access-control-allow-origin', '*').header('access-control-expose-headers', EXPOSED)
      done()
    })
    app.decorate('addPreflightRoutes', () => {
      for (const url of urls) app.options(url, { schema: { hide: true } }, preflight)
    })
  },
  { name: 'browser-access' },
)

async function preflight(request: FastifyRequest, reply: FastifyReply) {
  const asked = request.headers['access-control-request-headers']
  reply
    .code(204)
    .header('access-control-allow-methods', 'POST')
    .header('access-control-allow-headers', typeof asked === 'string' && HEADER_LIST.test(asked.trim()) ? asked.trim() : ALLOWED_HEADERS)
    .header('vary', 'Access-Control-Request-Headers')
    .header('access-control-max-age', '86400')
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Adds the OPTIONS route of every ingestion route registered so far; call it after the routes. */
    addPreflightRoutes(): void
  }
}
