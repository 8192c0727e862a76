import { Type } from '@sinclair/typebox'

/** An identifier a client chooses (user, anonymous id, session, event id): no control characters. */
export const ClientId = (description: string) =>
  Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description })

/** ISO-8601 / RFC 3339 date-time with an offset, e.g. 2026-11-26T09:30:00.000Z. */
export const IsoTimestamp = (description: string) => Type.String({ format: 'date-time', maxLength: 64, description })

/** Event and action names: no control characters and no braces (they could reach key names). */
export const EventName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f{}]+$', description })

export const ErrorItemSchema = Type.Object({
  index: Type.Integer({ minimum: 0, description: 'position of the event in the request' }),
  code: Type.String({ description: 'stable, machine-readable' }),
  message: Type.String({ description: 'what to change' }),
})

export const ErrorResponseSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'stable, machine-readable error code' }),
    error: Type.String({ description: 'HTTP reason phrase' }),
    message: Type.String({ description: 'what went wrong and what to do about it' }),
    errors: Type.Optional(Type.Array(ErrorItemSchema, { description: 'per-event problems, by index' })),
  },
  { examples: [{ statusCode: 400, code: 'no_valid_events', error: 'Bad Request', message: 'none of the 1 event could be accepted; see errors', errors: [{ index: 0, code: 'missing_identity', message: 'an event needs a userId, an anonymousId or a sessionId' }] }] },
)
