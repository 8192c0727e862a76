import type { Redis } from 'ioredis'
import { deadLetterKey, decodeEntry, decodeEventLines, fieldsToObject, type DecodedEntry, type StoredEvent } from '@tributary/shared'
import { UsageError } from '../config.ts'
import type { Output } from '../output.ts'
import { shards } from './operations.ts'

/** One entry of `tributary:dlq:{N}`, as apps/worker/src/dead-letter.ts writes it. */
interface DeadLetter {
  dlqId: string
  shard: number
  stream: string
  /** The original entry's id in its stream. */
  id: string
  code: string
  error: string
  failedAt: string
  /** The original entry's fields, name and value alternating, exactly as they were. */
  fields: string[]
}

const PAGE = 1_000

/** Every dead letter of a shard, oldest first, read a page at a time (the stream may be long). */
async function* deadLetters(redis: Redis, shard: number): AsyncGenerator<DeadLetter> {
  let from = '-'
  for (;;) {
    const entries = await redis.xrange(deadLetterKey(shard), from, '+', 'COUNT', PAGE)
    for (const [dlqId, flat] of entries) {
      const f = fieldsToObject(flat)
      yield { dlqId, shard, stream: String(f.stream), id: String(f.id), code: String(f.code), error: String(f.error), failedAt: String(f.failedAt), fields: JSON.parse(String(f.fields ?? '[]')) as string[] }
    }
    if (entries.length < PAGE) return
    from = `(${entries[entries.length - 1]![0]}`
  }
}

/** Every dead letter of the given shard, or of every shard, in shard order. */
async function* lettersOf(redis: Redis, configuredShards: number, shard: number | undefined): AsyncGenerator<DeadLetter> {
  for (const s of shard === undefined ? await shards(redis, configuredShards) : [shard]) yield* deadLetters(redis, s)
}

/** The dead letters `id` names: a dead letter's own id, or the id its entry had in its stream. */
async function named(redis: Redis, configuredShards: number, id: string, shard: number | undefined): Promise<DeadLetter[]> {
  const found: DeadLetter[] = []
  for await (const letter of lettersOf(redis, configuredShards, shard)) if (letter.dlqId === id || letter.id === id) found.push(letter)
  if (found.length === 0) throw new UsageError(`no dead letter with id ${id}${shard === undefined ? '' : ` on shard ${shard}`} (pnpm tributary dlq list)`)
  return found
}

export async function dlqList(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; limit: number }) {
  const list: DeadLetter[] = []
  for await (const letter of lettersOf(redis, configuredShards, options.shard)) {
    if (list.length >= options.limit) break
    list.push(letter)
  }
  if (out.json) return out.data(list.map(({ fields: _fields, ...rest }) => rest))
  if (list.length === 0) return out.line('the dead-letter streams are empty')
  out.table(['dead letter', 'shard', 'original entry', 'code', 'failed at', 'error'], list.map((d) => [d.dlqId, String(d.shard), d.id, d.code, d.failedAt, d.error.slice(0, 60)]))
  out.line('')
  out.line('pnpm tributary dlq show <dead letter> prints its events')
}

/**
 * Puts dead letters back into their stream as new entries and removes them from the
 * dead-letter stream, one MULTI per entry, so each is replayed once. Replaying an event the
 * database has since accepted does nothing: the unique (tenant_id, event_id) key holds.
 */
export async function dlqReplay(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id?: string }) {
  let letters: DeadLetter[] = []
  if (options.id) letters = await named(redis, configuredShards, options.id, options.shard)
  else for await (const letter of lettersOf(redis, configuredShards, options.shard)) letters.push(letter)
  for (const letter of letters) {
    const result = await redis.multi().xadd(letter.stream, '*', ...letter.fields).xdel(deadLetterKey(letter.shard), letter.dlqId).exec()
    for (const [err] of result ?? []) if (err) throw err
  }
  if (out.json) return out.data({ replayed: letters.length })
  out.line(`replayed ${letters.length} dead letter${letters.length === 1 ? '' : 's'} into their streams`)
}

/**
 * Deletes the dead letters `id` names, for events the operator has decided never to store
 * (a deleted tenant's, say). Only by id: events acknowledged to a client are never dropped
 * in bulk by a typo.
 */
export async function dlqDrop(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id: string }) {
  const letters = await named(redis, configuredShards, options.id, options.shard)
  for (const letter of letters) await redis.xdel(deadLetterKey(letter.shard), letter.dlqId)
  if (out.json) return out.data({ dropped: letters.map((l) => l.dlqId) })
  out.line(`dropped ${letters.length} dead letter${letters.length === 1 ? '' : 's'}: ${letters.map((l) => l.dlqId).join(', ')}`)
}

/** What a dead letter holds, read as far as it can be: the whole entry, else its raw fields and lines. */
interface DeadLetterContents {
  entry: ReturnType<typeof entryView> | null
  /** Why the entry does not decode (often why it was dead-lettered); null when it does. */
  decodeError: string | null
  /** The original fields by name, as stored (`z` compressed). */
  fields: Record<string, string>
  /** The event lines `z` unpacks to, when it does: readable even when the entry is not. */
  lines: string[] | null
}

function readDeadLetter(fields: string[]): DeadLetterContents {
  const byName = fieldsToObject(fields) as Record<string, string>
  let lines: string[] | null = null
  if (byName.z !== undefined) {
    try {
      lines = decodeEventLines(byName.z).lines
    } catch {
      // Left null: the entry's decode error below says why.
    }
  }
  try {
    return { entry: entryView(decodeEntry(fields)), decodeError: null, fields: byName, lines }
  } catch (err) {
    return { entry: null, decodeError: (err as Error).message, fields: byName, lines }
  }
}

function entryView(entry: DecodedEntry) {
  const common = { kind: entry.kind, tenantId: entry.tenantId, receivedAt: isoTime(entry.receivedAt) }
  if (entry.kind === 'ev') return { ...common, events: entry.events.map(eventView) }
  return { ...common, userKey: entry.userKey, session: { ...entry.session, at: isoTime(entry.session.at) } }
}

function eventView({ metadataJson, occurredAt, ...event }: StoredEvent) {
  return { ...event, occurredAt: isoTime(occurredAt), ...(metadataJson === undefined ? {} : { metadata: parsedOrText(metadataJson) }) }
}

const isoTime = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms))

function parsedOrText(json: string): unknown {
  try {
    return JSON.parse(json)
  } catch {
    return json
  }
}

/** Prints a dead letter's reason and everything its entry holds, decoded where it can be. */
export async function dlqShow(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id: string }) {
  const letters = await named(redis, configuredShards, options.id, options.shard)
  const shown = letters.map((letter) => {
    const { fields: _fields, ...deadLetter } = letter
    return { deadLetter, ...readDeadLetter(letter.fields) }
  })
  // An array whatever the count: an entry id can name dead letters on several shards.
  if (out.json) return out.data(shown)
  shown.forEach((s, n) => {
    if (n > 0) out.line('')
    const d = s.deadLetter
    out.line(`dead letter   ${d.dlqId} (shard ${d.shard})`)
    out.line(`entry         ${d.id} of ${d.stream}`)
    out.line(`failed at     ${d.failedAt}`)
    out.line(`reason        ${d.code}: ${d.error}`)
    if (s.entry) {
      const e = s.entry
      const what = 'events' in e ? `${e.events.length} event${e.events.length === 1 ? '' : 's'}` : `session ${e.kind === 'ss' ? 'start' : e.kind === 'sh' ? 'heartbeat' : 'end'} of ${e.userKey}`
      out.line(`holds         ${what} of tenant ${e.tenantId}, received ${e.receivedAt} (version ${s.fields.v})`)
      out.line('')
      if ('events' in e) for (const event of e.events) out.line(JSON.stringify(event))
      else out.line(JSON.stringify(e.session))
      return
    }
    out.line(`holds         an entry that does not decode: ${s.decodeError}`)
    out.line('')
    for (const [name, value] of Object.entries(s.fields)) {
      if (name === 'z') out.line(`z  ${value.length} characters, ${s.lines ? `unpacked into the ${s.lines.length} lines below` : 'which do not unpack'}`)
      else out.line(`${name}  ${value}`)
    }
    if (s.lines) for (const line of s.lines) out.line(line)
  })
}
