import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'
import { dedupToken, shardFor, streamKey, userKeyOf, uuidv7, type NormalizedEvent, type SessionOp } from '@tributary/shared'

const APPEND_SCRIPT = readFileSync(new URL('./append.lua', import.meta.url), 'utf8')

/** Prefix of every key Tributary keeps in Redis (see packages/shared/src/streams.ts). */
const NS = 'tributary:'

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
  | { outcome: 'ok'; entryId: string | undefined; statuses: EventStatus[] }
  | { outcome: 'rate_limited'; retryAfterMs: number }
  | { outcome: 'backlog_full' }

export type SessionResult = { outcome: 'ok' | 'duplicate' | 'unknown_session' } | { outcome: 'rate_limited'; retryAfterMs: number } | { outcome: 'backlog_full' }

type AppendCommand = (stream: string, ...args: Array<string | number>) => Promise<string[]>

const STATUS: Record<string, EventStatus> = { a: 'accepted', d: 'duplicate', u: 'unknown_session' }

/**
 * The ingest side of the event log: one atomic script call per request appends the
 * request's new events to the tenant's shard stream, marks their ids as seen, assigns
 * sessions and moves the real-time counters (append.lua). Resolves only once Redis has
 * answered, i.e. after the entry is written (and, with appendfsync always, on disk).
 */
export function createEventLog(redis: Redis, options: EventLogOptions) {
  redis.defineCommand('tributaryAppend', { numberOfKeys: 1, lua: APPEND_SCRIPT })
  const append = (redis as unknown as { tributaryAppend: AppendCommand }).tributaryAppend.bind(redis)

  function header(op: string, tenantId: string, keyId: string, now: number, count: number) {
    const shard = shardFor(tenantId, options.shards)
    return [
      streamKey(shard),
      op, NS, `{${shard}}`, tenantId, now, keyId,
      options.rateLimitPerSecond, options.backlogCap, options.sessionTimeoutMs,
      options.dedupWindowSeconds, options.sessionStateTtlSeconds, count,
    ] as const
  }

  function guard(reply: string[]): { outcome: 'rate_limited'; retryAfterMs: number } | { outcome: 'backlog_full' } | undefined {
    if (reply[0] === 'rate') return { outcome: 'rate_limited', retryAfterMs: Number(reply[1]) }
    if (reply[0] === 'backlog') return { outcome: 'backlog_full' }
    return undefined
  }

  return {
    /** `json` is the event as encodeEventJson wrote it (prepare.ts has it already, for the size check). */
    async appendEvents(tenantId: string, keyId: string, events: Array<{ event: NormalizedEvent; json: string }>, receivedAt: number): Promise<AppendResult> {
      const args: Array<string | number> = []
      for (const { event, json } of events) {
        const page = event.type === 'pageview' && event.page ? event.page : ''
        const candidate = event.sessionId ? '' : uuidv7(event.occurredAt)
        args.push(dedupToken(tenantId, event.eventId), userKeyOf(event) ?? '', event.sessionId ?? '', candidate, event.occurredAt, page, json)
      }
      const [stream, ...head] = header('ev', tenantId, keyId, receivedAt, events.length)
      const reply = await append(stream, ...head, ...args)
      const refused = guard(reply)
      if (refused) return refused
      const statuses = [...(reply[2] ?? '')].map((c) => STATUS[c]!)
      return { outcome: 'ok', entryId: reply[1] || undefined, statuses }
    },

    async session(op: 'ss' | 'sh' | 'se', tenantId: string, keyId: string, session: SessionOp, receivedAt: number): Promise<SessionResult> {
      const [stream, ...head] = header(op, tenantId, keyId, receivedAt, 1)
      const reply = await append(stream, ...head, session.id, session.uk ?? '', session.at, JSON.stringify(session))
      const refused = guard(reply)
      if (refused) return refused
      if (reply[0] === 'dup') return { outcome: 'duplicate' }
      if (reply[0] === 'unknown') return { outcome: 'unknown_session' }
      return { outcome: 'ok' }
    },
  }
}

export type EventLog = ReturnType<typeof createEventLog>
