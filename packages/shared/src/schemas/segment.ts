import { Type, type Static } from '@sinclair/typebox'
import { ErrorItemSchema, EventName, IsoTimestamp } from './common.ts'

export const SEGMENT_TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const
export type SegmentType = (typeof SEGMENT_TYPES)[number]

/** Segment SDKs send numeric user ids too, and "" for none (taken as absent, as null is). */
const SegmentId = Type.Union([Type.String({ maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }), Type.Number()])

/** An object, or null for none: SDKs built on maps that may be nil send `"properties": null`. */
const ObjectOrNull = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])

/**
 * A Segment-spec message. The known fields are checked; any other field is accepted and
 * kept in the event's metadata, as Segment does.
 */
export const SegmentMessageSchema = Type.Object(
  {
    type: Type.Optional(Type.Union(SEGMENT_TYPES.map((t) => Type.Literal(t)))),
    messageId: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })),
    userId: Type.Optional(Type.Union([SegmentId, Type.Null()])),
    anonymousId: Type.Optional(Type.Union([SegmentId, Type.Null()])),
    event: Type.Optional(EventName('track: the event name')),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
    category: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
    properties: Type.Optional(ObjectOrNull),
    traits: Type.Optional(ObjectOrNull),
    context: Type.Optional(ObjectOrNull),
    timestamp: Type.Optional(Type.Union([IsoTimestamp('when it happened'), Type.Null()])),
    sentAt: Type.Optional(Type.Union([IsoTimestamp('when the SDK sent it'), Type.Null()])),
  },
  { additionalProperties: true, examples: [{ type: 'track', messageId: 'msg-1', userId: 'user-7', event: 'Order Completed', properties: { revenue: 42 } }] },
)
export type SegmentMessage = Static<typeof SegmentMessageSchema>

/** Most messages in one Segment batch. */
export const SEGMENT_MAX_BATCH = 10_000

export const SegmentBatchSchema = Type.Object(
  {
    // Segment bounds a batch by size (500 KB), not by count, and analytics-node's flushAt has
    // no ceiling: a count cap at the native API's 1,000 refused, whole, batches the SDK then
    // dropped. The body limit bounds it too (1 MB by default: ~15,000 minimal messages).
    batch: Type.Array(Type.Unknown(), { minItems: 1, maxItems: SEGMENT_MAX_BATCH }),
    sentAt: Type.Optional(Type.Union([IsoTimestamp('when the SDK sent the batch'), Type.Null()])),
    writeKey: Type.Optional(Type.String()),
    context: Type.Optional(ObjectOrNull),
  },
  { additionalProperties: true },
)

export const SegmentAcceptedSchema = Type.Object({
  success: Type.Literal(true),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  errors: Type.Array(ErrorItemSchema),
})
