import type { DecodedEntry } from '@tributary/shared'
import { Utf8Builder } from './utf8-builder.ts'

/**
 * The user_activities rows of a batch in COPY's text format (tab between columns, one row
 * per line, \N for NULL), in the column order of ACTIVITY_COLUMNS, encoded as UTF-8.
 */
export interface ActivityRows {
  /** One line per row, each ending in a newline (values never hold a raw one: copyValue escapes it). */
  copyData: Buffer
  count: number
  /** Each row's key, in line order, for finding rows already stored (the merge path). */
  tenantIds: string[]
  eventIds: string[]
  /** The groups the rows count towards. */
  groups: ActivityGroups
}

export const ACTIVITY_COLUMNS = 'tenant_id, event_id, session_id, user_key, type, page, action, metadata, occurred_at, received_at'

/**
 * What a batch adds to the daily metrics, before the tenant's time zone turns seconds into
 * local days (in SQL, on the way into activity_deltas): one group per tenant, second, user
 * and page-view-or-not, with the number of its events. Seconds, not coarser buckets, because
 * some zones' offsets were not whole minutes (Amsterdam was UTC+01:19:32 in 1930).
 */
export interface ActivityGroups {
  tenantId: string[]
  second: number[]
  userKey: string[]
  pageView: boolean[]
  events: number[]
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

/** Up to 9999-12-31T23:59:59.999Z, toISOString keeps its fixed 24-character form. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_800_000
let cachedSecond = Number.NaN
let cachedSecondPrefix = ''

/**
 * iso() for an activity's timestamps, ~7 % of the worker's CPU when each called toISOString:
 * the events of one request mostly fall in the same second, so the date and time up to the
 * second are formatted once per second and only the milliseconds per event.
 */
export function isoTimestamp(ms: number): string {
  if (!(ms >= 0 && ms < LAST_FOUR_DIGIT_YEAR_MS) || !Number.isInteger(ms)) return iso(ms)
  const second = Math.floor(ms / 1000)
  if (second !== cachedSecond) {
    cachedSecond = second
    cachedSecondPrefix = iso(second * 1000).slice(0, 20) // 'YYYY-MM-DDTHH:MM:SS.'
  }
  const milli = ms - second * 1000
  return `${cachedSecondPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`
}

const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/** A value as COPY text: backslash, tab, newline and carriage return escaped; most values have none. */
export function copyValue(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N'
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : value
}

/**
 * A key (event id, session id) as Postgres stores it. UTF-8 has no lone surrogates, so each
 * is written as U+FFFD, and two ids that differ only there are one key to Postgres: kept
 * apart here, they would make every write of the batch fail alike (a unique violation, or
 * an upsert touching a row twice), retried for ever. Ingest refuses such ids; only a write
 * straight to the stream brings one.
 */
function asStored(id: string): string {
  const s = id as string & { isWellFormed(): boolean; toWellFormed(): string } // ES2024, in Node since 20
  return s.isWellFormed() ? id : s.toWellFormed()
}

/**
 * Turns decoded entries into what one transaction writes: activity rows (an event repeated
 * inside the batch appears once) with what they add to the daily metrics, and one merged
 * record per session.
 * Merging follows the rules the upsert applies in SQL — earliest start, latest activity,
 * earliest end — so the outcome is the same whatever the order or number of deliveries.
 */
export function buildRows(entries: DecodedEntry[], isStored?: (tenantId: string, eventId: string) => boolean) {
  let events = 0
  for (const entry of entries) if (entry.kind === 'ev') events += entry.events.length
  // ~230 bytes for a row with a little metadata; the builder grows when rows are larger.
  const copyData = new Utf8Builder(events * 256)
  const tenantIds: string[] = []
  const eventIds: string[] = []
  const groups = noGroups()
  const groupIndex = new Map<string, number>()
  /** Event ids already in the batch, per tenant. */
  const seen = new Map<string, Set<string>>()
  const sessions = new Map<string, SessionFacts>()

  const seenAt = (s: SessionFacts, at: number) => {
    if (at < s.startedAt) s.startedAt = at
    if (at > s.lastSeenAt) s.lastSeenAt = at
  }
  const sessionOf = (tenantId: string, rawId: string, userKey: string, at: number): SessionFacts => {
    const id = asStored(rawId)
    const key = `${tenantId}\n${id}`
    let s = sessions.get(key)
    if (!s) {
      s = { tenantId, id, userKey, userId: null, anonymousId: null, startedAt: at, lastSeenAt: at, endedAt: null, device: null, platform: null, browser: null, os: null, referrer: null }
      sessions.set(key, s)
    }
    seenAt(s, at)
    return s
  }

  for (const entry of entries) {
    if (entry.kind === 'ev') {
      const receivedAt = isoTimestamp(entry.receivedAt)
      const tenantId = copyValue(entry.tenantId)
      // The last group of this entry per kind (action, page view): a request's events mostly
      // share their second and user, so most events need no group key built and looked up.
      const lastGroup = [-1, -1]
      let seenOfTenant = seen.get(entry.tenantId)
      if (!seenOfTenant) seen.set(entry.tenantId, (seenOfTenant = new Set()))
      // Likewise, a request's events mostly belong to one session.
      let lastSession: SessionFacts | undefined
      for (const e of entry.events) {
        const eventId = asStored(e.eventId)
        if (seenOfTenant.has(eventId)) continue
        seenOfTenant.add(eventId)
        // Stored already (the merge path): no row, and nothing towards its session, whose
        // facts went in with it. A resend after the de-duplication window comes with a new
        // session id (ingest has forgotten the user's sessions), which would be a session
        // made of events counted elsewhere.
        if (isStored?.(entry.tenantId, eventId)) continue
        tenantIds.push(entry.tenantId)
        eventIds.push(eventId)
        copyData.append(
          `${tenantId}\t${copyValue(eventId)}\t${copyValue(e.sessionId)}\t${copyValue(e.userKey)}\t${copyValue(e.type)}\t${copyValue(e.page)}\t${copyValue(e.action)}\t${copyValue(e.metadataJson)}\t${isoTimestamp(e.occurredAt)}\t${receivedAt}\n`,
        )
        const second = Math.floor(e.occurredAt / 1000)
        const pageView = e.type === 'pageview'
        let group = lastGroup[+pageView]!
        if (group === -1 || groups.second[group] !== second || groups.userKey[group] !== e.userKey) {
          const groupKey = `${entry.tenantId}\n${second}\n${pageView ? 'p' : 'a'}${e.userKey}`
          group = groupIndex.get(groupKey) ?? -1
          if (group === -1) {
            group = addGroup(groups, entry.tenantId, second, e.userKey, pageView, 0)
            groupIndex.set(groupKey, group)
          }
          lastGroup[+pageView] = group
        }
        groups.events[group]!++
        let s: SessionFacts
        if (lastSession?.id === e.sessionId) seenAt((s = lastSession), e.occurredAt)
        else s = lastSession = sessionOf(entry.tenantId, e.sessionId, e.userKey, e.occurredAt)
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
  // Each row is encoded as it is built, so nothing of it but its bytes (outside V8's heap)
  // lives across the transaction's awaits: rows kept as strings reached the old generation
  // (~20 % more worker CPU per row and ~50 MB more RSS in `pnpm bench` worker runs).
  const activities: ActivityRows = { copyData: copyData.bytes(), count: eventIds.length, tenantIds, eventIds, groups }
  return { activities, sessions: [...sessions.values()] }
}

const noGroups = (): ActivityGroups => ({ tenantId: [], second: [], userKey: [], pageView: [], events: [] })

/** Appends a group to the columns; returns its index. */
function addGroup(groups: ActivityGroups, tenantId: string, second: number, userKey: string, pageView: boolean, events: number): number {
  groups.tenantId.push(tenantId)
  groups.second.push(second)
  groups.userKey.push(userKey)
  groups.pageView.push(pageView)
  return groups.events.push(events) - 1
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
