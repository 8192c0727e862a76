import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/**
 * OpenAPI generated from the routes' TypeBox schemas, browsable at /docs (JSON at
 * /docs/json). Registered before the routes so that it sees them all.
 * @see https://github.com/fastify/fastify-swagger
 */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'Tributary ingest API',
          version: '1',
          description:
            'Send events with a write key (wk_…): `Authorization: Bearer wk_…`, HTTP Basic with the key as user name (Segment SDKs), or `writeKey` in a Segment body. Read with a read key (rk_…). Every error has a stable `code`. See docs/api.md in the repository for the guarantees.',
        },
        components: {
          securitySchemes: {
            writeKey: { type: 'http', scheme: 'bearer', description: 'a write key, wk_…' },
            readKey: { type: 'http', scheme: 'bearer', description: 'a read key, rk_…' },
            segmentBasic: { type: 'http', scheme: 'basic', description: 'write key as user name, empty password' },
          },
        },
      },
      // Tag and secure each route by its path.
      transform: ({ schema, url }) => {
        const s = { ...(schema as Record<string, unknown>) }
        if (url.startsWith('/v1/')) Object.assign(s, { tags: ['Segment-compatible ingestion'], security: [{ segmentBasic: [] }, { writeKey: [] }] })
        else if (/\/(historical|realtime|sync)/.test(url)) Object.assign(s, { tags: ['Dashboard reads'], security: [{ readKey: [] }] })
        else if (url.startsWith('/api/')) Object.assign(s, { tags: ['Ingestion'], security: [{ writeKey: [] }] })
        else Object.assign(s, { tags: ['Operations'] })
        return { schema: s, url }
      },
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
  },
  { name: 'api-docs' },
)
