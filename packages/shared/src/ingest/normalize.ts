import { uuidv7 } from '../ids.ts'
import type { EventInput } from '../schemas/native.ts'
import type { SegmentMessage, SegmentType } from '../schemas/segment.ts'
import { occurredAt } from './time.ts'

/** The one internal shape of an event, whichever API it came through. */
export interface NormalizedEvent {
  eventId: string
  type: string
  userId?: string
  anonymousId?: string
  /** Only when the client named one; otherwise the server sessionises by event time. */
  sessionId?: string
  page?: string
  action?: string
  metadata?: Record<string, unknown>
  /** Epoch ms, skew-corrected and clamped. */
  occurredAt: number
}

export type Normalized = { ok: true; event: NormalizedEvent } | { ok: false; code: string; message: string }

export const userKeyOf = (e: { userId?: string; anonymousId?: string }) => e.userId ?? e.anonymousId

export function normalizeNative(input: EventInput, receivedAt: number, sentAt: string | undefined): Normalized {
  if (!input.userId && !input.anonymousId && !input.sessionId) {
    return { ok: false, code: 'missing_identity', message: 'an event needs a userId, an anonymousId or a sessionId' }
  }
  const time = occurredAt(receivedAt, input.timestamp, sentAt)
  if (!time.ok) return { ok: false, code: 'invalid_timestamp', message: time.message }
  const event: NormalizedEvent = { eventId: input.eventId ?? uuidv7(receivedAt), type: input.type, occurredAt: time.occurredAt }
  if (input.userId !== undefined) event.userId = input.userId
  if (input.anonymousId !== undefined) event.anonymousId = input.anonymousId
  if (input.sessionId !== undefined) event.sessionId = input.sessionId
  if (input.page !== undefined) event.page = input.page
  if (input.action !== undefined) event.action = input.action
  if (input.metadata !== undefined) event.metadata = input.metadata
  return { ok: true, event }
}

/** Fields of a Segment message that map onto columns; everything else is kept in metadata. */
const SEGMENT_MAPPED = new Set(['type', 'messageId', 'userId', 'anonymousId', 'timestamp', 'sentAt', 'writeKey', 'receivedAt', 'originalTimestamp'])

const asId = (v: unknown): string | undefined => (typeof v === 'number' ? String(v) : typeof v === 'string' && v.length > 0 ? v : undefined)
/** Longest page kept from a Segment message, in UTF-16 code units. */
const MAX_SEGMENT_PAGE = 2048

/**
 * Pages come from free-form Segment properties: control characters are dropped, the length
 * capped. The cap never splits a character in two: half of a surrogate pair is refused by
 * Redis's JSON parser and by Postgres.
 */
const asPath = (v: unknown): string | undefined => {
  if (typeof v !== 'string') return undefined
  let clean = v.replace(/[\u0000-\u001f\u007f]/g, '')
  if (clean.length > MAX_SEGMENT_PAGE) {
    const last = clean.charCodeAt(MAX_SEGMENT_PAGE - 1)
    clean = clean.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_SEGMENT_PAGE - 1 : MAX_SEGMENT_PAGE)
  }
  return clean.length > 0 ? clean : undefined
}

function pageOf(message: SegmentMessage): string | undefined {
  const properties = message.properties as { path?: unknown } | undefined
  const contextPage = (message.context as { page?: { path?: unknown } } | undefined)?.page
  return asPath(properties?.path) ?? asPath(contextPage?.path) ?? asPath(message.name)
}

/**
 * Segment spec → internal: `page` is a pageview (page = properties.path, context.page.path
 * or name), `track` an action (action = event), `screen` keeps its name as the page, and
 * identify/group/alias are stored as their own types. `originalTimestamp` (what
 * analytics.js sends before the server fills `timestamp`) counts as the timestamp.
 */
export function normalizeSegment(message: SegmentMessage, type: SegmentType, receivedAt: number, batchSentAt: string | null | undefined): Normalized {
  const userId = asId(message.userId)
  const anonymousId = asId(message.anonymousId)
  if (!userId && !anonymousId) return { ok: false, code: 'missing_identity', message: 'a Segment message needs a userId or an anonymousId' }
  if (type === 'track' && !message.event) return { ok: false, code: 'validation_failed', message: 'a track call needs an event name' }
  const original = (message as { originalTimestamp?: unknown }).originalTimestamp
  const timestamp = message.timestamp ?? (typeof original === 'string' ? original : undefined)
  const time = occurredAt(receivedAt, timestamp, message.sentAt ?? batchSentAt)
  if (!time.ok) return { ok: false, code: 'invalid_timestamp', message: time.message }

  const event: NormalizedEvent = {
    eventId: message.messageId ?? uuidv7(receivedAt),
    type: type === 'page' ? 'pageview' : type === 'track' ? 'action' : type,
    occurredAt: time.occurredAt,
  }
  if (userId) event.userId = userId
  if (anonymousId) event.anonymousId = anonymousId
  if (type === 'page') {
    const page = pageOf(message)
    if (page) event.page = page
  } else if (type === 'screen') {
    const page = asPath(message.name)
    if (page) event.page = page
  } else if (type === 'track') {
    event.action = message.event!
  }
  const metadata: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(message)) {
    if (!SEGMENT_MAPPED.has(key) && value !== undefined && value !== null) metadata[key] = value
  }
  if (Object.keys(metadata).length > 0) event.metadata = metadata
  return { ok: true, event }
}
