import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponseSchema, EventBatchSchema, EventSchema, EventsAcceptedSchema, EventsBodySchema, normalizeNative, type EventInput } from '@tributary/shared'
import { ApiError } from '../errors.ts'
import { acceptBatch } from '../ingest/accept.ts'
import { compile, firstSchemaError, objectBody, prepareEvents, refuseTenantClaims } from '../ingest/prepare.ts'
import type { IngestRouteOptions } from './ingest-options.ts'

const checkEvent = compile(EventSchema)
const checkBatch = compile(EventBatchSchema)

const objectOnly = objectBody('the body must be a JSON object: one event, or {"events": [...]}')

const events: FastifyPluginAsyncTypebox<IngestRouteOptions> = async (app, { eventLog, bodyLimit }) => {
  app.post(
    '/api/v2/analytics/events',
    {
      bodyLimit,
      onRequest: app.requireKey('write'),
      validatorCompiler: objectOnly,
      schema: {
        summary: 'Send one event or a batch of up to 1000',
        body: EventsBodySchema,
        response: { 202: EventsAcceptedSchema, 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema },
      },
    },
    async (request, reply) => {
      const receivedAt = Date.now()
      const { tenantId, keyId } = request.principal!
      const body = request.body as Record<string, unknown>
      refuseTenantClaims(body, tenantId)
      let raw: unknown[]
      let sentAt: string | undefined
      if ('events' in body) {
        const problem = firstSchemaError(checkBatch, body)
        if (problem) {
          const events = body.events
          if (Array.isArray(events) && events.length === 0) throw new ApiError(400, 'empty_batch', 'events is empty; send 1 to 1000 events')
          if (Array.isArray(events) && events.length > 1000) throw new ApiError(400, 'batch_too_large', `events holds ${events.length} events; send at most 1000 per request`)
          throw new ApiError(400, problem.code, problem.message)
        }
        raw = body.events as unknown[]
        sentAt = body.sentAt as string | undefined
      } else {
        raw = [body]
      }
      const batch = prepareEvents(raw, tenantId, checkEvent, (event: EventInput) => normalizeNative(event, receivedAt, sentAt))
      // Nothing needs the parsed body any more; see acceptBatch for why it must not wait for Redis.
      ;(request as { body: unknown }).body = undefined
      return acceptBatch(eventLog, tenantId, keyId, batch, receivedAt, app.metrics).then((result) => reply.code(202).send(result))
    },
  )
}

export default events
