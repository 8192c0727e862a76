import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/**
 * Every error a client can get, with a stable `code`. Handlers throw ApiError; the error
 * handler (plugins/error-handler.ts) turns Fastify's own errors into the same shape.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: { errors?: Array<{ index: number; code: string; message: string }>; retryAfterSeconds?: number } = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'missing, unknown or revoked API key: send `Authorization: Bearer <key>`')
export const wrongKeyKind = (expected: 'write' | 'read') =>
  new ApiError(403, 'forbidden_key_kind', expected === 'write' ? 'this route needs a write key (wk_…); read keys cannot ingest' : 'this route needs a read key (rk_…); write keys cannot read')
export const redisUnavailable = () =>
  new ApiError(503, 'unavailable', 'the event store is unreachable; nothing was stored, retry later', { retryAfterSeconds: 5 })
export const backlogFull = () =>
  new ApiError(503, 'backlog_full', 'the ingestion backlog is full; nothing was stored, retry later', { retryAfterSeconds: 10 })
export const shuttingDown = () =>
  new ApiError(503, 'shutting_down', 'this ingest process is shutting down; nothing was stored, retry (another instance, or this one once restarted, will answer)', { retryAfterSeconds: 1 })
export const rateLimited = (retryAfterMs: number) =>
  new ApiError(429, 'rate_limited', 'too many events for this write key; nothing was stored, retry after the delay', { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) })

const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
}

/** Fastify's error codes → ours. */
const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body_too_large', 'the body (after decompression) is larger than this route accepts'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'send Content-Type: application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length', 'Content-Length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty_body', 'the body is empty; send a JSON object'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json', 'the body is not valid JSON'],
  FST_ERR_CTP_EMPTY_TYPE: [415, 'unsupported_media_type', 'send Content-Type: application/json'],
  FST_ERR_CTP_INVALID_TYPE: [415, 'unsupported_media_type', 'send Content-Type: application/json'],
}

export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
  errors?: Array<{ index: number; code: string; message: string }>
}

export function toErrorBody(err: FastifyError | ApiError | Error): ErrorBody {
  if (err instanceof ApiError) {
    const body: ErrorBody = { statusCode: err.statusCode, code: err.code, error: REASONS[err.statusCode] ?? 'Error', message: err.message }
    if (err.extra.errors) body.errors = err.extra.errors
    return body
  }
  const fastifyError = err as FastifyError
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined
  if (mapped) return { statusCode: mapped[0], code: mapped[1], error: REASONS[mapped[0]]!, message: mapped[2] }
  if (fastifyError.validation) {
    const first = fastifyError.validation[0]
    const unknown = first?.keyword === 'additionalProperties' ? (first.params as { additionalProperty?: string }).additionalProperty : undefined
    if (unknown) return { statusCode: 400, code: 'unknown_field', error: REASONS[400]!, message: `unknown field "${unknown}" ${first?.instancePath ? `in ${first.instancePath}` : fastifyError.validationContext === 'querystring' ? 'in the query string' : 'in the body'}` }
    return { statusCode: 400, code: 'validation_failed', error: REASONS[400]!, message: `${fastifyError.validationContext ?? 'body'}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}` }
  }
  const zlibCode = (err as NodeJS.ErrnoException).code
  if (zlibCode === 'Z_DATA_ERROR' || zlibCode === 'Z_BUF_ERROR') {
    return { statusCode: 400, code: 'invalid_compressed_body', error: REASONS[400]!, message: 'the body is not valid for its Content-Encoding' }
  }
  // Prototype poisoning, bad JSON from secure-json-parse, etc.
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code = /__proto__|constructor/.test(fastifyError.message) ? 'forbidden_property' : err instanceof SyntaxError ? 'invalid_json' : 'bad_request'
    return { statusCode: fastifyError.statusCode, code, error: REASONS[fastifyError.statusCode] ?? 'Bad Request', message: fastifyError.message }
  }
  return { statusCode: 500, code: 'internal_error', error: REASONS[500]!, message: 'something went wrong on our side, and it was logged; a retry may fail the same way until it is fixed (resending events is safe: their ids make it idempotent)' }
}

/**
 * Requests refused as part of normal operation, though with a 5xx: `shutting_down` comes
 * with every deploy and is no fault, so it is logged at info (request-log.ts reads this),
 * not at error where it would page someone.
 */
export const routineRefusals = new WeakSet<FastifyRequest>()

/**
 * 5xx: the cause is logged once, at error (the request line follows from request-log),
 * but for routine refusals (routineRefusals), at info.
 * 4xx: the code and message at debug; request-log's line at warn is the one record.
 * Never internals in the body.
 */
export async function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const body = toErrorBody(err)
  if (body.code === 'shutting_down') {
    routineRefusals.add(request)
    request.log.info({ code: body.code }, body.message)
  } else if (body.statusCode >= 500) request.log.error({ err, code: body.code }, 'unexpected error')
  else request.log.debug({ code: body.code }, body.message)
  if (err instanceof ApiError && err.extra.retryAfterSeconds) {
    reply.header('retry-after', String(err.extra.retryAfterSeconds))
    // analytics.js, batching, reads the wait of a 429 from X-RateLimit-Reset (seconds), not Retry-After; without it, 5 s.
    if (body.statusCode === 429) reply.header('x-ratelimit-reset', String(err.extra.retryAfterSeconds))
  }
  return reply.code(body.statusCode).send(body)
}

/**
 * Answers what Node's HTTP parser refuses before any route runs (a request that did not
 * arrive within REQUEST_TIMEOUT_MS, oversized headers, a malformed request) in the same
 * body as every other error, with a code; Fastify's own answer has none. Then closes.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [statusCode, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request did not arrive in time (REQUEST_TIMEOUT_MS); send it again, whole']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are too large']
        : [400, 'bad_request', 'the request is not valid HTTP/1.1']
  const reason = STATUS_CODES[statusCode]!
  const body = JSON.stringify({ statusCode, code, error: reason, message })
  // Not after a response has begun on this socket (a 401 sent while the body was still arriving).
  const response = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && !response?.headersSent) {
    socket.write(`HTTP/1.1 ${statusCode} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}
