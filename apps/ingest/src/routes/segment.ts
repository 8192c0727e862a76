import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  ErrorResponseSchema,
  inspectJson,
  normalizeSegment,
  SEGMENT_TYPES,
  SegmentAcceptedSchema,
  SegmentBatchSchema,
  SegmentMessageSchema,
  type SegmentMessage,
  type SegmentType,
} from '@tributary/shared'
import { ApiError } from '../errors.ts'
import { acceptBatch } from '../ingest/accept.ts'
import { compile, firstSchemaError, MAX_EVENT_DEPTH, objectBody, prepareEvents, refuseTenantClaims } from '../ingest/prepare.ts'
import { acceptCompressedBodies, parseAnyContentTypeAsJson } from '../plugins/request-body.ts'
import type { IngestRouteOptions } from './ingest-options.ts'

const checkMessage = compile(SegmentMessageSchema)
const checkBatch = compile(SegmentBatchSchema)
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema }

const objectOnly = objectBody('the body must be a JSON object')

/**
 * The Segment HTTP tracking API, so Segment-spec SDKs work unchanged when pointed here.
 * Unknown fields are kept in metadata; `writeKey` in the body is accepted as the key.
 */
const segment: FastifyPluginAsyncTypebox<IngestRouteOptions> = async (app, { eventLog, bodyLimit }) => {
  parseAnyContentTypeAsJson(app)
  acceptCompressedBodies(app)
  const auth = { onRequest: app.requireKey('write', { allowBodyWriteKey: true }), preValidation: app.requireBodyWriteKey }

  // Not async: a suspended async function would keep `raw` and `batch` alive while Redis
  // answers. (The callback below still holds `context` and `typeOf`, which are small.)
  function ingest(request: { body: unknown }, tenantId: string, keyId: string, raw: unknown[], typeOf: (m: SegmentMessage) => SegmentType | undefined, sentAt: string | null | undefined, context: unknown) {
    const receivedAt = Date.now()
    const batch = prepareEvents(raw, tenantId, checkMessage, (message: SegmentMessage) => {
      const type = typeOf(message)
      if (!type) return { ok: false, code: 'validation_failed', message: `type must be one of ${SEGMENT_TYPES.join(', ')}` }
      if (context && (message.context === undefined || message.context === null)) message.context = context as Record<string, unknown>
      return normalizeSegment(message, type, receivedAt, sentAt)
    })
    // Nothing needs the parsed body any more; see acceptBatch for why it must not wait for Redis.
    request.body = undefined
    return acceptBatch(eventLog, tenantId, keyId, batch, receivedAt, app.metrics).then((result) => ({ success: true as const, ...result }))
  }

  // The paths SDKs post to: /v1/batch (analytics-node, -python, -go…), /v1/b (analytics.js
  // batching, analytics-kotlin, -swift, -react-native), /v1/import (the classic
  // analytics-android), and per call /v1/track or its initial, /v1/t (analytics.js).
  for (const [url, summary] of BATCH_PATHS) {
    app.post(url, { bodyLimit, ...auth, validatorCompiler: objectOnly, schema: { summary, body: SegmentBatchSchema, response: { 200: SegmentAcceptedSchema, ...errors } } }, async (request) => {
      const { tenantId, keyId } = request.principal!
      const body = request.body as Record<string, unknown>
      refuseTenantClaims(body, tenantId)
      const problem = firstSchemaError(checkBatch, body)
      if (problem) throw new ApiError(400, problem.code, problem.message)
      // The batch's context goes into every message that has none, after each message was
      // inspected: inspect it here, as it will sit in them, or a NUL in it would be
      // acknowledged and then refused by Postgres.
      const contextProblem = body.context === undefined ? undefined : inspectJson({ context: body.context }, MAX_EVENT_DEPTH)
      if (contextProblem) throw new ApiError(400, contextProblem.code, `the batch's context is refused: ${contextProblem.message}`)
      return ingest(request, tenantId, keyId, body.batch as unknown[], (m) => m.type, body.sentAt as string | null | undefined, body.context)
    })
  }

  for (const type of SEGMENT_TYPES) {
    const paths: Array<[url: string, summary: string]> = [
      [`/v1/${type}`, `Segment: one ${type} call`],
      [`/v1/${type[0]}`, `Segment: one ${type} call (the short path analytics.js posts to)`],
    ]
    for (const [url, summary] of paths) {
      app.post(url, { bodyLimit, ...auth, validatorCompiler: objectOnly, schema: { summary, body: SegmentMessageSchema, response: { 200: SegmentAcceptedSchema, ...errors } } }, async (request) => {
        const { tenantId, keyId } = request.principal!
        return ingest(request, tenantId, keyId, [request.body], () => type, undefined, undefined)
      })
    }
  }
}

const BATCH_PATHS = [
  ['/v1/batch', 'Segment: a batch of messages'],
  ['/v1/b', 'Segment: a batch of messages (the path analytics.js batching and the mobile SDKs post to)'],
  ['/v1/import', 'Segment: a batch of messages (the path the classic analytics-android posts to)'],
] as const

export default segment
