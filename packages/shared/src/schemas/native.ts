import { Type, type Static } from '@sinclair/typebox'
import { ClientId, ErrorItemSchema, EventName, IsoTimestamp } from './common.ts'

export const MAX_BATCH_EVENTS = 1000

export const MetadataSchema = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  maxProperties: 255,
  description: 'free-form JSON object (at most 255 keys, 8 levels deep)',
})

export const EventSchema = Type.Object(
  {
    eventId: Type.Optional(ClientId('idempotency key; a UUIDv7 is generated when absent')),
    type: EventName("'pageview', 'action' or a custom event name"),
    sessionId: Type.Optional(ClientId('an explicit session; absent, the server sessionises by event time')),
    userId: Type.Optional(ClientId('the signed-in user')),
    anonymousId: Type.Optional(ClientId('a device or browser id')),
    page: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'path or URL of a page view' })),
    action: Type.Optional(EventName('name of the action')),
    metadata: Type.Optional(MetadataSchema),
    timestamp: Type.Optional(IsoTimestamp('when it happened on the client; default: when received')),
  },
  {
    additionalProperties: false,
    examples: [{ eventId: '0193a1c2-7d4e-7b8a-9c1d-2e3f4a5b6c7d', type: 'pageview', anonymousId: 'visitor-42', page: '/pricing', metadata: { referrer: 'https://news.example' }, timestamp: '2026-11-26T09:30:00.000Z' }],
  },
)
export type EventInput = Static<typeof EventSchema>

export const EventBatchSchema = Type.Object(
  {
    events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH_EVENTS, description: `1 to ${MAX_BATCH_EVENTS} events` }),
    sentAt: Type.Optional(IsoTimestamp("the client's clock when it sent the batch, for skew correction")),
  },
  {
    additionalProperties: false,
    examples: [{ sentAt: '2026-11-26T09:31:00.000Z', events: [{ eventId: 'e-1', type: 'pageview', userId: 'user-7', page: '/' }, { eventId: 'e-2', type: 'action', userId: 'user-7', action: 'signup' }] }],
  },
)

/** Documentation shape of POST /events: one event, or a batch. Events are validated one by one. */
export const EventsBodySchema = Type.Union([EventSchema, EventBatchSchema])

export const EventsAcceptedSchema = Type.Object({
  accepted: Type.Integer({ description: 'new events now durably queued' }),
  duplicates: Type.Integer({ description: 'events already received before (same eventId); nothing changed' }),
  errors: Type.Array(ErrorItemSchema, { description: 'events refused, by index; the others were accepted' }),
})

export const SessionStartSchema = Type.Object(
  {
    sessionId: Type.Optional(ClientId('your session id; a UUIDv7 is generated when absent')),
    userId: Type.Optional(ClientId('the signed-in user')),
    anonymousId: Type.Optional(ClientId('a device or browser id')),
    device: Type.Optional(Type.String({ maxLength: 255 })),
    platform: Type.Optional(Type.String({ maxLength: 255 })),
    browser: Type.Optional(Type.String({ maxLength: 255 })),
    os: Type.Optional(Type.String({ maxLength: 255 })),
    referrer: Type.Optional(Type.String({ maxLength: 2048 })),
    timestamp: Type.Optional(IsoTimestamp('when the session started; default: when received')),
    sentAt: Type.Optional(IsoTimestamp("the client's clock when it sent this, for skew correction")),
  },
  { additionalProperties: false, examples: [{ userId: 'user-7', device: 'iPhone 15', os: 'iOS 19', referrer: 'https://news.example' }] },
)
export type SessionStartInput = Static<typeof SessionStartSchema>

export const SessionPingSchema = Type.Object(
  {
    timestamp: Type.Optional(IsoTimestamp('when it happened; default: when received')),
    sentAt: Type.Optional(IsoTimestamp("the client's clock when it sent this")),
  },
  { additionalProperties: false },
)

export const SessionParamsSchema = Type.Object({ sessionId: ClientId('the session') })

export const SessionCreatedSchema = Type.Object({ sessionId: Type.String(), duplicate: Type.Boolean({ description: 'the session was already started' }) })
export const SessionPingAcceptedSchema = Type.Object({ accepted: Type.Boolean() })
