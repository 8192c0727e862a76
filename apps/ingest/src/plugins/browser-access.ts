import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'

/** The routes browsers send to: native events and sessions, and every Segment path. */
const INGESTION = /^\/(api\/v2\/analytics\/(events|sessions)|v1)\b/

/** What a browser may read of an answer beyond the basics: when to retry after a 429 or 503. */
const EXPOSED = 'Retry-After, X-RateLimit-Reset'

/**
 * CORS for the ingestion routes, from any origin. Write keys are public by design (they
 * ship inside web pages), so limiting origins would protect nothing; without CORS a browser
 * could not read an answer, and a call with an `Authorization` header or a JSON content type
 * would never be sent (its preflight found no route). Every POST route under INGESTION
 * answers with `Access-Control-Allow-Origin: *`, errors included, and gets an OPTIONS route
 * for the preflight (`addPreflightRoutes`, once the routes are registered). No credentials
 * (cookies) are involved, so `*` is allowed with an Authorization header. The read routes,
 * whose keys are secret, get no CORS: they are meant for servers.
 */
export default fp(
  async (app) => {
    const urls = new Set<string>()
    app.addHook('onRoute', (route) => {
      if (route.method !== 'POST' || !INGESTION.test(route.url)) return
      urls.add(route.url)
      // First, so that an answer refused by auth still carries the header the browser needs to read it.
      const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
      route.onRequest = [allowAnyOrigin, ...own] as onRequestHookHandler[]
    })
    app.decorate('addPreflightRoutes', () => {
      for (const url of urls) app.options(url, { schema: { hide: true } }, preflight)
    })
  },
  { name: 'browser-access' },
)

function allowAnyOrigin(_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
  reply.header('access-control-allow-origin', '*').header('access-control-expose-headers', EXPOSED)
  done()
}

async function preflight(_request: FastifyRequest, reply: FastifyReply) {
  // Content-Encoding: gzip bodies are welcome from browsers too (CompressionStream).
  reply
    .code(204)
    .header('access-control-allow-origin', '*')
    .header('access-control-allow-methods', 'POST')
    .header('access-control-allow-headers', 'authorization, content-type, content-encoding')
    .header('access-control-max-age', '86400')
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Adds the OPTIONS route of every ingestion route registered so far; call it after the routes. */
    addPreflightRoutes(): void
  }
}
