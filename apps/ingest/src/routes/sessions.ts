import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  ErrorResponseSchema,
  occurredAt,
  SessionCreatedSchema,
  SessionParamsSchema,
  SessionPingAcceptedSchema,
  SessionPingSchema,
  SessionStartSchema,
  uuidv7,
  type SessionOp,
} from '@tributary/shared'
import { ApiError } from '../errors.ts'
import { callEventLog, sessionOutcome } from '../ingest/accept.ts'
import { refuseTenantClaims } from '../ingest/prepare.ts'
import type { IngestRouteOptions } from './ingest-options.ts'

const SESSION_BODY_LIMIT = 16 * 1024
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 413: ErrorResponseSchema, 415: ErrorResponseSchema, 429: ErrorResponseSchema, 503: ErrorResponseSchema }

function when(receivedAt: number, timestamp: string | undefined, sentAt: string | undefined): number {
  const time = occurredAt(receivedAt, timestamp, sentAt)
  if (!time.ok) throw new ApiError(400, 'invalid_timestamp', time.message)
  return time.occurredAt
}

const unknownSession = (id: string) =>
  new ApiError(404, 'unknown_session', `session "${id}" is not one this server knows (never started, or idle longer than the session state is kept); start a new one`)

/** Session calls shape sessions; they are not activities and count as no event. */
const sessions: FastifyPluginAsyncTypebox<IngestRouteOptions> = async (app, { eventLog }) => {
  const options = { bodyLimit: SESSION_BODY_LIMIT, onRequest: app.requireKey('write') }

  app.post('/api/v2/analytics/sessions', { ...options, schema: { summary: 'Start a session', body: SessionStartSchema, response: { 201: SessionCreatedSchema, ...errors } } }, async (request, reply) => {
    const receivedAt = Date.now()
    const { tenantId, keyId } = request.principal!
    const body = request.body
    refuseTenantClaims(body as Record<string, unknown>, tenantId)
    const userKey = body.userId ?? body.anonymousId
    if (!userKey) throw new ApiError(400, 'missing_identity', 'a session needs a userId or an anonymousId')
    const at = when(receivedAt, body.timestamp, body.sentAt)
    const session: SessionOp = { id: body.sessionId ?? uuidv7(at), uk: userKey, at }
    for (const field of ['userId', 'anonymousId', 'device', 'platform', 'browser', 'os', 'referrer'] as const) {
      const value = body[field]
      if (value !== undefined) session[field === 'userId' ? 'ui' : field === 'anonymousId' ? 'ai' : field] = value
    }
    const outcome = sessionOutcome(await callEventLog(() => eventLog.session('ss', tenantId, keyId, session, receivedAt)))
    return reply.code(201).send({ sessionId: session.id, duplicate: outcome === 'duplicate' })
  })

  for (const [path, op, summary] of [
    ['heartbeat', 'sh', 'Keep a session alive'],
    ['end', 'se', 'End a session'],
  ] as const) {
    app.post(
      `/api/v2/analytics/sessions/:sessionId/${path}`,
      { ...options, schema: { summary, params: SessionParamsSchema, body: SessionPingSchema, response: { 202: SessionPingAcceptedSchema, ...errors } } },
      async (request, reply) => {
        const receivedAt = Date.now()
        const { tenantId, keyId } = request.principal!
        const body = request.body ?? {}
        const session: SessionOp = { id: request.params.sessionId, at: when(receivedAt, body.timestamp, body.sentAt) }
        const outcome = sessionOutcome(await callEventLog(() => eventLog.session(op, tenantId, keyId, session, receivedAt)))
        if (outcome === 'unknown_session') throw unknownSession(session.id)
        return reply.code(202).send({ accepted: true })
      },
    )
  }
}

export default sessions
