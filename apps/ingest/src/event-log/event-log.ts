import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'
import { encodeEventLines, randomHex, shardFor, streamKey, userKeyOf, uuidv7Time, type NormalizedEvent, type SessionOp } from '@tributary/shared'
import { utf8Bytes, utf8View } from './utf8.ts'

const APPEND_SCRIPT = readFileSync(new URL('./append.lua', import.meta.url), 'utf8')

/** Prefix of every key Tributary keeps in Redis (see packages/shared/src/streams.ts). */
const NS = 'tributary:'
/** Most events one script call carries; a call holds Redis for its whole run. */
const MAX_EVENTS_PER_CALL = 2_000

export interface EventLogOptions {
  shards: number
  sessionTimeoutMs: number
  dedupWindowSeconds: number
  sessionStateTtlSeconds: number
  rateLimitPerSecond: number
  backlogCap: number
}

export type EventStatus = 'accepted' | 'duplicate' | 'unknown_session'

export type AppendResult =
  | { outcome: 'ok'; statuses: EventStatus[] }
  | { outcome: 'rate_limited'; retryAfterMs: number }
  | { outcome: 'backlog_full' }

export type SessionResult = { outcome: 'ok' | 'duplicate' | 'unknown_session' } | { outcome: 'rate_limited'; retryAfterMs: number } | { outcome: 'backlog_full' }

export interface EventLog {
  /** `json` is the event as encodeEventJson wrote it (prepare.ts has it already, for the size check). */
  appendEvents(tenantId: string, keyId: string, events: Array<{ event: NormalizedEvent; json: string }>, receivedAt: number): Promise<AppendResult>
  session(op: 'ss' | 'sh' | 'se', tenantId: string, keyId: string, session: SessionOp, receivedAt: number): Promise<SessionResult>
}

type AppendCommand = (stream: string, ...args: Array<string | number | Buffer>) => Promise<string[]>

const STATUS: Record<string, EventStatus> = { a: 'accepted', d: 'duplicate', u: 'unknown_session' }

/**
 * How an event id is remembered in the tenant's seen-sets: as itself when short (most are
 * UUIDs), else as a hash. Event ids never hold control characters, so the \u0001 prefix
 * keeps the two kinds apart.
 */
export function seenToken(eventId: string): string {
  return eventId.length <= 64 ? eventId : '\u0001' + createHash('sha256').update(eventId).digest('base64url').slice(0, 22)
}

/**
 * The id times as append.lua reads them: 0 when no event id is a UUIDv7, their range when
 * every one is (the usual case), else one per event.
 */
export function idTimesMeta(idTimes: number[]): 0 | number[] | { e: number; l: number } {
  let earliest = Infinity
  let latest = 0
  let some = false
  let all = true
  for (const t of idTimes) {
    if (t === 0) {
      all = false
    } else {
      some = true
      if (t < earliest) earliest = t
      if (t > latest) latest = t
    }
  }
  if (!some) return 0
  return all ? { e: earliest, l: latest } : idTimes
}

interface PendingAppend {
  tenantId: string
  keyId: string
  receivedAt: number
  count: number
  /** 16 random hex digits, from which append.lua makes the ids of the sessions this request starts. */
  random: string
  /**
   * Buffers, not strings: a request waits for its call here and in ioredis (which keeps a
   * command's arguments until the reply) for tens of ms under load. Strings that old are
   * copied by every young-generation collection and then promoted; a Buffer's bytes live
   * outside the V8 heap and are never copied. The UTF-8 encoding happens once either way,
   * here (utf8Bytes) instead of in ioredis. Measured with `--trace-gc-nvp` at ~1,200
   * requests/s of 50 events, once acceptBatch and the routes had stopped holding the parsed
   * events: 2.7 → 0.5 MB surviving each scavenge (3.8 MB before either change). The cost:
   * V8 counts Buffers' bytes against the old generation's limit, so they bring
   * mark-compacts forward (11–15 in 11 s against 2 in the ceiling; see BENCHMARKS.md).
   */
  meta: Buffer
  /** The events' JSON lines, compressed (encodeEventLines): ~1–2 KB instead of ~11. */
  lines: Buffer
  resolve(result: AppendResult): void
  reject(err: unknown): void
}

interface ShardQueue {
  waiting: PendingAppend[]
  /** Calls in flight, or scheduled to start. */
  calls: number
}

/**
 * Calls in flight per shard. Two let Node build the next call while Redis runs the current
 * one; each still carries everything that was waiting when it started.
 */
const CALLS_IN_FLIGHT = 2

/**
 * The ingest side of the event log (append.lua does the work, atomically).
 *
 * Group commit: per shard, one script call is in flight at a time, and the requests that
 * arrive meanwhile go together in the next call. Under load a call carries many requests,
 * which spreads the fixed cost of a call (and of each fsync, with appendfsync always) over
 * all of them; when idle a request goes alone, at once. A request resolves only after Redis
 * has answered for the call that carried it: its entry is written, and with appendfsync
 * always, on disk.
 */
export function createEventLog(redis: Redis, options: EventLogOptions): EventLog {
  redis.defineCommand('tributaryAppend', { numberOfKeys: 1, lua: APPEND_SCRIPT })
  const call = (redis as unknown as { tributaryAppend: AppendCommand }).tributaryAppend.bind(redis)
  const queues = new Map<number, ShardQueue>()

  const header = (op: string, shard: number, now: number) => [
    op, NS, `{${shard}}`, now,
    options.rateLimitPerSecond, options.backlogCap, options.sessionTimeoutMs,
    options.dedupWindowSeconds, options.sessionStateTtlSeconds,
  ]

  function schedule(shard: number, queue: ShardQueue) {
    if (queue.calls >= CALLS_IN_FLIGHT || queue.waiting.length === 0) return
    queue.calls++
    // Requests parsed in this same turn of the event loop join the call.
    setImmediate(() => void flush(shard, queue))
  }

  async function flush(shard: number, queue: ShardQueue) {
    try {
      if (queue.waiting.length > 0) {
        const batch: PendingAppend[] = []
        let events = 0
        while (queue.waiting.length > 0 && (batch.length === 0 || events + queue.waiting[0]!.count <= MAX_EVENTS_PER_CALL)) {
          const next = queue.waiting.shift()!
          batch.push(next)
          events += next.count
        }
        const args: Array<string | number | Buffer> = [...header('ev', shard, Date.now()), batch.length]
        for (const p of batch) args.push(p.tenantId, p.keyId, p.receivedAt, p.count, p.random, p.meta, p.lines)
        try {
          const reply = await call(streamKey(shard), ...args)
          batch.forEach((p, i) => {
            const [outcome, detail] = [reply[2 * i], reply[2 * i + 1] ?? '']
            if (outcome === 'rate') p.resolve({ outcome: 'rate_limited', retryAfterMs: Number(detail) })
            else if (outcome === 'backlog') p.resolve({ outcome: 'backlog_full' })
            else if (outcome === 'bad') p.reject(new Error('append.lua could not read this request\'s meta; nothing of it was written'))
            else p.resolve({ outcome: 'ok', statuses: [...detail].map((c) => STATUS[c]!) })
          })
        } catch (err) {
          for (const p of batch) p.reject(err)
        }
      }
    } finally {
      queue.calls--
      schedule(shard, queue)
    }
  }

  return {
    appendEvents(tenantId, keyId, events, receivedAt) {
      // See append.lua for the layout. Most requests come from one user in one session:
      // then those two go once, as strings, instead of one per event.
      const tokens: string[] = []
      // Times as ms from receivedAt: small integers, which V8 writes and cjson reads faster
      // than 13-digit ones.
      const ats: number[] = []
      const pages: string[] = []
      const userKeys: string[] = []
      const sessionIds: string[] = []
      const lines: string[] = []
      // The ms of each UUIDv7 event id (0 for other ids): append.lua looks such an id up only
      // in the sets that can hold it. Sent as their range when every id is one (idTimesMeta).
      const idTimes: number[] = []
      let sharedUser = true
      let sharedSession = true
      for (const { event, json } of events) {
        const userKey = userKeyOf(event) ?? ''
        const sessionId = event.sessionId ?? ''
        if (userKeys.length > 0) {
          sharedUser &&= userKey === userKeys[0]
          sharedSession &&= sessionId === sessionIds[0]
        }
        tokens.push(seenToken(event.eventId))
        idTimes.push(uuidv7Time(event.eventId))
        ats.push(event.occurredAt - receivedAt)
        pages.push(event.type === 'pageview' && event.page ? event.page : '')
        userKeys.push(userKey)
        sessionIds.push(sessionId)
        lines.push(json)
      }
      const meta = JSON.stringify([tokens, ats, pages, sharedUser ? (userKeys[0] ?? '') : userKeys, sharedSession ? (sessionIds[0] ?? '') : sessionIds, idTimesMeta(idTimes)])
      const shard = shardFor(tenantId, options.shards)
      let queue = queues.get(shard)
      if (!queue) {
        queue = { waiting: [], calls: 0 }
        queues.set(shard, queue)
      }
      const q = queue
      return new Promise<AppendResult>((resolve, reject) => {
        q.waiting.push({ tenantId, keyId, receivedAt, count: events.length, random: randomHex(8), meta: utf8Bytes(meta), lines: encodeEventLines(utf8View(lines.join('\n'))), resolve, reject })
        schedule(shard, q)
      })
    },

    async session(op, tenantId, keyId, session, receivedAt) {
      const shard = shardFor(tenantId, options.shards)
      const reply = await call(streamKey(shard), ...header(op, shard, receivedAt), tenantId, keyId, session.id, session.uk ?? '', session.at, JSON.stringify(session))
      if (reply[0] === 'rate') return { outcome: 'rate_limited', retryAfterMs: Number(reply[1]) }
      if (reply[0] === 'backlog') return { outcome: 'backlog_full' }
      if (reply[0] === 'dup') return { outcome: 'duplicate' }
      if (reply[0] === 'unknown') return { outcome: 'unknown_session' }
      return { outcome: 'ok' }
    },
  }
}
