import { createHash } from 'node:crypto'
import { inflateRawSync } from 'node:zlib'
import type { NormalizedEvent } from './ingest/normalize.ts'
import { RawDeflater } from './raw-deflate.ts'

/**
 * The layout of stream entries, shared by ingest (writes) and the worker (reads).
 *
 * One XADD per accepted request. Field names are one letter to keep Redis memory and the
 * AOF small:
 *   v  codec version: "2" for events (since 2026-11-28), "1" for session entries and for
 *      events written by earlier versions; decodeEntry reads both
 *   k  kind: "ev" events, "ss" session start, "sh" heartbeat, "se" session end
 *   t  tenant id
 *   r  receivedAt, epoch ms
 * events ("ev"), version 2:
 *   z  every event of the request, one JSON object per line (keys below), compressed
 *      (encodeEventLines): ~11 KB of lines take ~1–2 KB, so the stream's memory, the AOF
 *      and what the worker reads shrink ~3x (BENCHMARKS.md)
 *   a  only when some events were not accepted (duplicates): the 0-based lines that were,
 *      comma-separated; the append script cannot decompress, so it names them instead
 *   s  the session id of each accepted event, one per line in the same order, or one
 *      line for all of them when they share it (the usual case)
 *   u  the user key of each accepted event, likewise
 * events ("ev"), version 1: e the accepted events' lines as text; s and u one per line.
 * sessions ("ss" | "sh" | "se"):
 *   u  the session's user key
 *   d  one JSON object: SessionOp
 *
 * Event JSON keys, always in this order: i eventId, y type, ui userId, ai anonymousId,
 * p page, a action, m metadata, o occurredAt (epoch ms). Session and user key live beside
 * the JSON because the append script assigns them (sessionisation happens atomically in
 * Redis). The order lets the worker take the metadata out as text without parsing it
 * (see decodeEventLine).
 *
 * Upgrading: workers first. A worker older than version 2 dead-letters version-2 entries
 * (`tributary dlq replay` puts them back once the workers are upgraded).
 */
export const CODEC_VERSION = '2'

/**
 * An entry's events never decompress to more than this: ingest's body limit is far below
 * it, so anything larger is a corrupt entry, not a request.
 */
const MAX_EVENT_LINES_BYTES = 64 * 1024 * 1024

/** One per process: each call copies its result out before the next call can start. */
const lineDeflater = new RawDeflater(1)

/**
 * The `z` field: the event lines (UTF-8, joined by newlines) compressed with raw deflate at
 * level 1, as base64 text, so the field stays a string for the append script, ioredis and
 * dead letters. Level 1: ~11 µs for a bench request's 10 KB through a reused stream
 * (RawDeflater), to ~0.8–1.3 KB (brotli quality 1 was no smaller and no faster; measured
 * for BENCHMARKS.md).
 */
export function encodeEventLines(utf8Lines: Uint8Array): Buffer {
  return Buffer.from(lineDeflater.deflate(utf8Lines).toString('base64'), 'latin1')
}

/** The lines encodeEventLines packed, as UTF-8 (how many bytes they unpack to is `bytes`). */
export function decodeEventLines(z: string): { lines: string[]; bytes: number } {
  let bytes: Buffer
  try {
    bytes = inflateRawSync(Buffer.from(z, 'base64'), { maxOutputLength: MAX_EVENT_LINES_BYTES })
  } catch (err) {
    throw new EntryDecodeError(`event lines that do not decompress: ${(err as Error).message}`)
  }
  return { lines: bytes.toString('utf8').split('\n'), bytes: bytes.length }
}

export type EntryKind = 'ev' | 'ss' | 'sh' | 'se'

export interface StoredEvent extends Omit<NormalizedEvent, 'metadata'> {
  sessionId: string
  userKey: string
  /** The metadata object as JSON text, exactly as ingest encoded it; Postgres parses it into jsonb. */
  metadataJson?: string
}

export interface SessionOp {
  /** session id */
  id: string
  /** user key (userId, else anonymousId); session start only */
  uk?: string
  ui?: string
  ai?: string
  /** when it happened, epoch ms */
  at: number
  device?: string
  platform?: string
  browser?: string
  os?: string
  referrer?: string
}

export type DecodedEntry =
  /** unpackedBytes: what the events' compressed lines unpacked to (0 for version 1), for the worker's memory bound. */
  | { kind: 'ev'; tenantId: string; receivedAt: number; events: StoredEvent[]; unpackedBytes: number }
  | { kind: 'ss' | 'sh' | 'se'; tenantId: string; receivedAt: number; userKey: string; session: SessionOp }

/** The event as one line of JSON. Keep the key order: decodeEventLine depends on it. */
export function encodeEventJson(e: NormalizedEvent): string {
  const o: Record<string, unknown> = { i: e.eventId, y: e.type }
  if (e.userId !== undefined) o.ui = e.userId
  if (e.anonymousId !== undefined) o.ai = e.anonymousId
  if (e.page !== undefined) o.p = e.page
  if (e.action !== undefined) o.a = e.action
  if (e.metadata !== undefined) o.m = e.metadata
  o.o = e.occurredAt
  return JSON.stringify(o)
}

interface EventJson {
  i: string
  y: string
  ui?: string
  ai?: string
  p?: string
  a?: string
  o: number
}

export class EntryDecodeError extends Error {}

/**
 * One event line. The metadata is most of an event's bytes and is only ever stored, so it is
 * cut out as text instead of being parsed and encoded again. This relies on the key order
 * of encodeEventJson: every key before "m" holds a string, and a JSON string cannot hold
 * `,"m":` (its quotes are escaped), so the first `,"m":` is the metadata key; "o" comes
 * after it and holds a number, so the last `,"o":` is the key that ends the metadata.
 * The rest is read by plainHead when its strings hold no escape (nearly always), else by
 * JSON.parse.
 */
export function decodeEventLine(line: string, sessionId: string, userKey: string): StoredEvent {
  let metadataJson: string | undefined
  let metaStart = line.length
  let metaEnd = line.length
  const m = line.indexOf(',"m":')
  if (m !== -1) {
    const o = line.lastIndexOf(',"o":')
    metadataJson = line.slice(m + 5, o)
    if (o < m || metadataJson.charCodeAt(0) !== 0x7b || metadataJson.charCodeAt(metadataJson.length - 1) !== 0x7d) {
      throw new EntryDecodeError('event line without its keys in encodeEventJson order')
    }
    metaStart = m
    metaEnd = o
  }
  const backslash = line.indexOf('\\')
  const event = (backslash === -1 || backslash >= metaStart ? plainHead(line, metaStart, metaEnd, sessionId, userKey) : undefined) ?? parsedHead(line, metaStart, metaEnd, sessionId, userKey)
  if (metadataJson !== undefined) event.metadataJson = metadataJson
  return event
}

/** Keys after "y" that hold a string, in encodeEventJson's order, as they start in the line. */
const OPTIONAL_KEYS = [',"ui":"', ',"ai":"', ',"p":"', ',"a":"'] as const

/**
 * The fields of a line whose strings hold no escape (no backslash before the metadata), read
 * by position: a string's content then runs to the next quote, as it is. Worth it: with
 * JSON.parse (and the string it needs without the metadata) decoding was ~15 % of the
 * worker's CPU. Anything but encodeEventJson's shape gets undefined, and JSON.parse. Not
 * checked here, because the encoder never writes them and JSON.stringify escapes them: raw
 * control characters inside a string, which JSON.parse would refuse (COPY escapes them).
 */
function plainHead(line: string, metaStart: number, metaEnd: number, sessionId: string, userKey: string): StoredEvent | undefined {
  if (!line.startsWith('{"i":"')) return undefined
  let end = line.indexOf('"', 6)
  if (end === -1 || !line.startsWith(',"y":"', end + 1)) return undefined
  const eventId = line.slice(6, end)
  let pos = end + 7
  end = line.indexOf('"', pos)
  if (end === -1) return undefined
  const event: StoredEvent = { eventId, type: line.slice(pos, end), occurredAt: 0, sessionId, userKey }
  const values: Array<string | undefined> = [undefined, undefined, undefined, undefined]
  let next = 0
  pos = end + 1
  for (;;) {
    if (pos === metaStart) pos = metaEnd
    if (line.startsWith(',"o":', pos)) break
    let key = next
    while (key < OPTIONAL_KEYS.length && !line.startsWith(OPTIONAL_KEYS[key]!, pos)) key++
    if (key === OPTIONAL_KEYS.length) return undefined
    const start = pos + OPTIONAL_KEYS[key]!.length
    end = line.indexOf('"', start)
    if (end === -1 || end > metaStart) return undefined
    values[key] = line.slice(start, end)
    next = key + 1
    pos = end + 1
  }
  // "o": digits to the closing brace, which ends the line; no leading zero, as in JSON.
  const digits = pos + 5
  if (line.length - 1 <= digits || line.charCodeAt(line.length - 1) !== 0x7d) return undefined
  if (line.charCodeAt(digits) === 0x30 && line.length - 1 > digits + 1) return undefined
  let occurredAt = 0
  for (let i = digits; i < line.length - 1; i++) {
    const d = line.charCodeAt(i) - 0x30
    if (d < 0 || d > 9) return undefined
    occurredAt = occurredAt * 10 + d
  }
  if (!Number.isSafeInteger(occurredAt)) return undefined
  event.occurredAt = occurredAt
  if (values[0] !== undefined) event.userId = values[0]
  if (values[1] !== undefined) event.anonymousId = values[1]
  if (values[2] !== undefined) event.page = values[2]
  if (values[3] !== undefined) event.action = values[3]
  return event
}

/** The fields of any line, with JSON.parse on the line without its metadata. */
function parsedHead(line: string, metaStart: number, metaEnd: number, sessionId: string, userKey: string): StoredEvent {
  const j = JSON.parse(metaStart === line.length ? line : line.slice(0, metaStart) + line.slice(metaEnd)) as EventJson
  const event: StoredEvent = { eventId: j.i, type: j.y, occurredAt: j.o, sessionId, userKey }
  if (j.ui !== undefined) event.userId = j.ui
  if (j.ai !== undefined) event.anonymousId = j.ai
  if (j.p !== undefined) event.page = j.p
  if (j.a !== undefined) event.action = j.a
  return event
}

/** Decodes the flat [field, value, …] array XREADGROUP returns. */
export function decodeEntry(fields: string[]): DecodedEntry {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
  if (f.v !== CODEC_VERSION && f.v !== '1') throw new EntryDecodeError(`unknown codec version ${JSON.stringify(f.v)}`)
  const tenantId = f.t
  const receivedAt = Number(f.r)
  if (!tenantId || !Number.isFinite(receivedAt)) throw new EntryDecodeError('entry without tenant or receivedAt')
  if (f.k === 'ev') {
    const { lines, sessions, users, unpackedBytes } = f.v === '1' ? eventFieldsV1(f) : eventFieldsV2(f)
    if (lines.length !== sessions.length || lines.length !== users.length) throw new EntryDecodeError('events, sessions and users differ in count')
    const events = lines.map((line, i) => decodeEventLine(line, sessions[i]!, users[i]!))
    return { kind: 'ev', tenantId, receivedAt, events, unpackedBytes }
  }
  if (f.k === 'ss' || f.k === 'sh' || f.k === 'se') {
    if (!f.u) throw new EntryDecodeError('session entry without a user key')
    return { kind: f.k, tenantId, receivedAt, userKey: f.u, session: JSON.parse(f.d ?? '') as SessionOp }
  }
  throw new EntryDecodeError(`unknown entry kind ${JSON.stringify(f.k)}`)
}

/** An event entry of version 1: lines as text, a session and a user per line. */
function eventFieldsV1(f: Record<string, string>) {
  return { lines: (f.e ?? '').split('\n'), sessions: (f.s ?? '').split('\n'), users: (f.u ?? '').split('\n'), unpackedBytes: 0 }
}

/** An event entry of version 2: the accepted lines of `z`, one session and user for all or one per line. */
function eventFieldsV2(f: Record<string, string>) {
  const unpacked = decodeEventLines(f.z ?? '')
  const lines = acceptedLines(unpacked.lines, f.a)
  return { lines, sessions: oneOrEach(f.s ?? '', lines.length), users: oneOrEach(f.u ?? '', lines.length), unpackedBytes: unpacked.bytes }
}

/** The lines named by `a` (0-based, comma-separated, ascending), or all of them without it. */
function acceptedLines(lines: string[], a: string | undefined): string[] {
  if (a === undefined) return lines
  const kept: string[] = []
  let previous = -1
  for (const text of a.split(',')) {
    const i = /^\d{1,9}$/.test(text) ? Number(text) : -1
    if (i <= previous || i >= lines.length) throw new EntryDecodeError(`accepted lines ${JSON.stringify(a)} do not fit ${lines.length} lines`)
    kept.push(lines[i]!)
    previous = i
  }
  return kept
}

/** One value per line for `count` events: the same one for all when the entry holds one. */
function oneOrEach(values: string, count: number): string[] {
  const each = values.split('\n')
  return each.length === 1 ? new Array<string>(count).fill(each[0]!) : each
}

/** The token under which ingest remembers an event id it has seen (fixed length, whatever the id). */
export function dedupToken(tenantId: string, eventId: string): string {
  return createHash('sha256').update(tenantId).update('\n').update(eventId).digest('base64url').slice(0, 22)
}

/** Which shard a tenant's events go to: FNV-1a of the tenant id. */
export function shardFor(tenantId: string, shards: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < tenantId.length; i++) {
    hash ^= tenantId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % shards
}
