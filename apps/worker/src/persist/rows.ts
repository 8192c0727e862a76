import type { DecodedEntry } from '@tributary/shared'

/** One row of user_activities, as arrays for UNNEST. */
export interface ActivityColumns {
  tenantId: string[]
  eventId: string[]
  sessionId: string[]
  userKey: string[]
  type: string[]
  page: Array<string | null>
  action: Array<string | null>
  metadata: Array<string | null>
  occurredAt: string[]
  receivedAt: string[]
}

/** What a batch knows about one session, merged over all its entries. */
export interface SessionFacts {
  tenantId: string
  id: string
  userKey: string
  userId: string | null
  anonymousId: string | null
  startedAt: number
  lastSeenAt: number
  endedAt: number | null
  device: string | null
  platform: string | null
  browser: string | null
  os: string | null
  referrer: string | null
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * Turns decoded entries into what one transaction writes: activity rows (an event repeated
 * inside the batch appears once) and one merged record per session. Merging follows the
 * rules the upsert applies in SQL — earliest start, latest activity, earliest end — so the
 * outcome is the same whatever the order or number of deliveries.
 */
export function buildRows(entries: DecodedEntry[]) {
  const activities: ActivityColumns = { tenantId: [], eventId: [], sessionId: [], userKey: [], type: [], page: [], action: [], metadata: [], occurredAt: [], receivedAt: [] }
  const seen = new Set<string>()
  const sessions = new Map<string, SessionFacts>()

  const sessionOf = (tenantId: string, id: string, userKey: string, at: number): SessionFacts => {
    const key = `${tenantId}\n${id}`
    let s = sessions.get(key)
    if (!s) {
      s = { tenantId, id, userKey, userId: null, anonymousId: null, startedAt: at, lastSeenAt: at, endedAt: null, device: null, platform: null, browser: null, os: null, referrer: null }
      sessions.set(key, s)
    }
    if (at < s.startedAt) s.startedAt = at
    if (at > s.lastSeenAt) s.lastSeenAt = at
    return s
  }

  for (const entry of entries) {
    if (entry.kind === 'ev') {
      for (const e of entry.events) {
        const key = `${entry.tenantId}\n${e.eventId}`
        if (seen.has(key)) continue
        seen.add(key)
        activities.tenantId.push(entry.tenantId)
        activities.eventId.push(e.eventId)
        activities.sessionId.push(e.sessionId)
        activities.userKey.push(e.userKey)
        activities.type.push(e.type)
        activities.page.push(e.page ?? null)
        activities.action.push(e.action ?? null)
        activities.metadata.push(e.metadata === undefined ? null : JSON.stringify(e.metadata))
        activities.occurredAt.push(iso(e.occurredAt))
        activities.receivedAt.push(iso(entry.receivedAt))
        const s = sessionOf(entry.tenantId, e.sessionId, e.userKey, e.occurredAt)
        s.userId ??= e.userId ?? null
        s.anonymousId ??= e.anonymousId ?? null
      }
    } else {
      const op = entry.session
      const s = sessionOf(entry.tenantId, op.id, entry.userKey, op.at)
      if (entry.kind === 'ss') {
        s.userId ??= op.ui ?? null
        s.anonymousId ??= op.ai ?? null
        s.device ??= op.device ?? null
        s.platform ??= op.platform ?? null
        s.browser ??= op.browser ?? null
        s.os ??= op.os ?? null
        s.referrer ??= op.referrer ?? null
      } else if (entry.kind === 'se') {
        s.endedAt = s.endedAt === null ? op.at : Math.min(s.endedAt, op.at)
      }
    }
  }
  return { activities, sessions: [...sessions.values()] }
}

export function sessionColumns(sessions: SessionFacts[]) {
  return {
    tenantId: sessions.map((s) => s.tenantId),
    id: sessions.map((s) => s.id),
    userKey: sessions.map((s) => s.userKey),
    userId: sessions.map((s) => s.userId),
    anonymousId: sessions.map((s) => s.anonymousId),
    startedAt: sessions.map((s) => iso(s.startedAt)),
    lastSeenAt: sessions.map((s) => iso(s.lastSeenAt)),
    endedAt: sessions.map((s) => (s.endedAt === null ? null : iso(s.endedAt))),
    device: sessions.map((s) => s.device),
    platform: sessions.map((s) => s.platform),
    browser: sessions.map((s) => s.browser),
    os: sessions.map((s) => s.os),
    referrer: sessions.map((s) => s.referrer),
  }
}
