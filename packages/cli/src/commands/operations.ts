import { sql } from 'drizzle-orm'
import type { Redis } from 'ioredis'
import { cleanupAndSync, type Database } from '@tributary/db'
import { CONSUMER_GROUP, deadLetterKey, fieldsToObject, groupPosition, streamKey } from '@tributary/shared'
import { UsageError } from '../config.ts'
import { findTenant } from './keys.ts'
import type { Output } from '../output.ts'

const ago = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`)

/** The configured shards, plus any stream found in Redis beyond them (after STREAM_SHARDS was lowered, say). */
async function shards(redis: Redis, configured: number): Promise<number[]> {
  const found = new Set(Array.from({ length: configured }, (_, i) => i))
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'tributary:events:{*}', 'COUNT', 500)
    cursor = next
    for (const key of keys) found.add(Number(/\{(\d+)\}/.exec(key)?.[1]))
  } while (cursor !== '0')
  return [...found].filter(Number.isFinite).sort((a, b) => a - b)
}

export async function status(redis: Redis, db: Database, out: Output, configuredShards: number) {
  const now = Date.now()
  const rows = []
  const consumers = new Map<string, { pending: number; idleMs: number }>()
  for (const shard of await shards(redis, configuredShards)) {
    const stream = streamKey(shard)
    const position = await groupPosition(redis, stream)
    const dlq = await redis.xlen(deadLetterKey(shard))
    const oldestMs = position.oldestPendingId ? now - Number(position.oldestPendingId.split('-')[0]) : 0
    rows.push({ shard, stream, length: position.length, undelivered: position.undelivered, pending: position.pending, oldestPendingAgeMs: oldestMs, deadLetters: dlq })
    const list = ((await redis.xinfo('CONSUMERS', stream, CONSUMER_GROUP).catch(() => [])) as unknown[][]).map(fieldsToObject)
    for (const c of list) {
      const seen = consumers.get(String(c.name)) ?? { pending: 0, idleMs: Number.MAX_SAFE_INTEGER }
      consumers.set(String(c.name), { pending: seen.pending + Number(c.pending), idleMs: Math.min(seen.idleMs, Number(c.idle)) })
    }
  }
  const syncs = await db.execute<{ scope: string; last_run_at: Date | string; duration_ms: number; synced_days: number; sessions_closed: number }>(sql`select * from sync_runs where scope = 'all'`)
  const lastSync = syncs[0]
  if (out.json) {
    return out.data({
      streams: rows,
      consumers: [...consumers].map(([name, c]) => ({ name, ...c })),
      lastSync: lastSync ? { at: new Date(lastSync.last_run_at).toISOString(), durationMs: lastSync.duration_ms, syncedDays: lastSync.synced_days, sessionsClosed: lastSync.sessions_closed } : null,
    })
  }
  out.table(
    ['shard', 'length', 'undelivered', 'pending', 'oldest pending', 'dead letters'],
    rows.map((r) => [String(r.shard), String(r.length), String(r.undelivered), String(r.pending), r.pending ? ago(r.oldestPendingAgeMs) : '-', String(r.deadLetters)]),
  )
  out.line('')
  if (consumers.size === 0) out.line('workers seen: none yet (start one: pnpm start:worker)')
  else out.table(['worker', 'pending', 'last seen'], [...consumers].map(([name, c]) => [name, String(c.pending), `${ago(c.idleMs)} ago`]))
  out.line('')
  out.line(lastSync ? `last sync: ${ago(now - new Date(lastSync.last_run_at).getTime())} ago, ${lastSync.synced_days} days synced, ${lastSync.sessions_closed} sessions closed, ${lastSync.duration_ms} ms` : 'last sync: never')
}

interface DeadLetter {
  dlqId: string
  shard: number
  stream: string
  id: string
  code: string
  error: string
  failedAt: string
  fields: string[]
}

async function deadLetters(redis: Redis, shard: number, limit: number): Promise<DeadLetter[]> {
  const entries = await redis.xrange(deadLetterKey(shard), '-', '+', 'COUNT', limit)
  return entries.map(([dlqId, flat]) => {
    const f = fieldsToObject(flat)
    return { dlqId, shard, stream: String(f.stream), id: String(f.id), code: String(f.code), error: String(f.error), failedAt: String(f.failedAt), fields: JSON.parse(String(f.fields ?? '[]')) as string[] }
  })
}

export async function dlqList(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; limit: number }) {
  const list: DeadLetter[] = []
  for (const shard of options.shard === undefined ? await shards(redis, configuredShards) : [options.shard]) list.push(...(await deadLetters(redis, shard, options.limit)))
  if (out.json) return out.data(list.map(({ fields: _fields, ...rest }) => rest))
  if (list.length === 0) return out.line('the dead-letter streams are empty')
  out.table(['dead letter', 'shard', 'original entry', 'code', 'failed at', 'error'], list.map((d) => [d.dlqId, String(d.shard), d.id, d.code, d.failedAt, d.error.slice(0, 60)]))
}

/**
 * Puts dead letters back into their stream as new entries and removes them from the
 * dead-letter stream, one MULTI per entry, so each is replayed once. Replaying an event the
 * database has since accepted does nothing: the unique (tenant_id, event_id) key holds.
 */
export async function dlqReplay(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id?: string }) {
  let replayed = 0
  for (const shard of options.shard === undefined ? await shards(redis, configuredShards) : [options.shard]) {
    for (const letter of await deadLetters(redis, shard, 10_000)) {
      if (options.id && letter.dlqId !== options.id && letter.id !== options.id) continue
      const result = await redis.multi().xadd(letter.stream, '*', ...letter.fields).xdel(deadLetterKey(shard), letter.dlqId).exec()
      for (const [err] of result ?? []) if (err) throw err
      replayed++
    }
  }
  if (options.id && replayed === 0) throw new UsageError(`no dead letter with id ${options.id} (pnpm tributary dlq list)`)
  if (out.json) return out.data({ replayed })
  out.line(`replayed ${replayed} dead letter${replayed === 1 ? '' : 's'} into their streams`)
}

export async function syncNow(db: Database, out: Output, sessionTimeoutMinutes: number, tenantRef?: string) {
  const tenantId = tenantRef ? (await findTenant(db, tenantRef)).id : undefined
  const result = await cleanupAndSync(db, { sessionTimeoutMinutes, wait: true, ...(tenantId ? { tenantId } : {}) })
  if (out.json) return out.data({ syncedDays: result.syncedDays, sessionsClosed: result.sessionsClosed, durationMs: result.durationMs })
  out.line(`synced ${result.syncedDays} days, closed ${result.sessionsClosed} sessions in ${result.durationMs} ms`)
}
