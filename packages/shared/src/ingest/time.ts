import { isDateTime } from '../schemas/formats.ts'

const DAY_MS = 24 * 60 * 60 * 1000
/** Earliest event time accepted; anything before is a broken clock, not history. */
export const EARLIEST_EVENT_MS = Date.UTC(2000, 0, 1)

export type TimeResult = { ok: true; occurredAt: number } | { ok: false; message: string }

function parse(value: string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined
  return isDateTime(value) ? Date.parse(value) : Number.NaN
}

/**
 * When an event happened, by the server's clock:
 * - no timestamp: when it was received;
 * - with sentAt: shifted by the client's clock error, receivedAt − (sentAt − timestamp);
 * - more than 24 h in the future (after correction): clamped to receivedAt.
 */
export function occurredAt(receivedAt: number, timestamp: string | null | undefined, sentAt: string | null | undefined): TimeResult {
  const at = parse(timestamp)
  if (at === undefined) return { ok: true, occurredAt: receivedAt }
  if (Number.isNaN(at)) return { ok: false, message: `timestamp "${timestamp}" is not an ISO-8601 date-time` }
  const sent = parse(sentAt)
  if (sent !== undefined && Number.isNaN(sent)) return { ok: false, message: `sentAt "${sentAt}" is not an ISO-8601 date-time` }
  let corrected = sent === undefined ? at : receivedAt - (sent - at)
  if (corrected > receivedAt + DAY_MS) corrected = receivedAt
  if (corrected < EARLIEST_EVENT_MS) return { ok: false, message: `timestamp ${new Date(corrected).toISOString()} is before 2000-01-01` }
  return { ok: true, occurredAt: Math.round(corrected) }
}
