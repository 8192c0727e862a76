import type { Redis } from 'ioredis'
import { deadLetterKey, decodeEntry, decodeEventLines, fieldsToObject, streamKey, type DecodedEntry, type StoredEvent } from '@tributary/shared'
import { UsageError } from '../config.ts'
import { OperationError } from '../failures.ts'
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
  /**
   * The original entry's fields, name and value alternating, exactly as they were; null
   * when the dead letter's `fields` is not such a list (then `fieldsError` says why and
   * `rawFields` holds it as stored). Such a letter can still be listed, shown and dropped.
   */
  fields: string[] | null
  fieldsError?: string
  rawFields?: string
}

const PAGE = 1_000

/** A dead letter's `fields`: a JSON list of names and values, alternating. */
function parseFields(raw: string | undefined): { fields: string[] } | { fields: null; fieldsError: string; rawFields: string } {
  const text = raw ?? ''
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return { fields: null, fieldsError: `fields is not JSON: ${(err as Error).message}`, rawFields: text }
  }
  if (!Array.isArray(parsed) || parsed.length < 2 || parsed.length % 2 !== 0 || !parsed.every((v) => typeof v === 'string')) {
    return { fields: null, fieldsError: 'fields is not a list of names and values (strings, an even number of them)', rawFields: text }
  }
  return { fields: parsed }
}

/** Every dead letter of a shard, oldest first, read a page at a time (the stream may be long). */
async function* deadLetters(redis: Redis, shard: number): AsyncGenerator<DeadLetter> {
  let from = '-'
  for (;;) {
    const entries = await redis.xrange(deadLetterKey(shard), from, '+', 'COUNT', PAGE)
    for (const [dlqId, flat] of entries) {
      const f = fieldsToObject(flat) as Record<string, string | undefined>
      // A field the worker did not write reads as '' (never the text "undefined", which an id could match).
      yield { dlqId, shard, stream: f.stream ?? '', id: f.id ?? '', code: f.code ?? '', error: f.error ?? '', failedAt: f.failedAt ?? '', ...parseFields(f.fields) }
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

/**
 * The one dead letter `id` names, for the commands that change something: a dead letter's
 * own id wins over an entry id, and an id that still names several (entry ids are per
 * stream, so two shards can each have had an entry 5-1) is refused with the candidates,
 * rather than dropping or replaying events the operator did not mean.
 */
async function theOne(redis: Redis, configuredShards: number, id: string, shard: number | undefined): Promise<DeadLetter> {
  const found = await named(redis, configuredShards, id, shard)
  const own = found.filter((letter) => letter.dlqId === id)
  const candidates = own.length > 0 ? own : found
  if (candidates.length > 1) {
    const which = candidates.map((l) => `dead letter ${l.dlqId} on shard ${l.shard} (entry ${l.id})`).join(', ')
    // Dead letters' own ids repeat across shards too (two shards' streams written in one ms).
    throw new UsageError(`${id} names ${candidates.length} dead letters: ${which}; add --shard N${own.length > 0 ? '' : ", or give the dead letter's own id"}`)
  }
  return candidates[0]!
}

export async function dlqList(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; limit: number }) {
  const list: DeadLetter[] = []
  let more = false
  for await (const letter of lettersOf(redis, configuredShards, options.shard)) {
    if (list.length >= options.limit) {
      more = true
      break
    }
    list.push(letter)
  }
  // The list is cut in shard order, so a long shard 0 can hide the others: say so, with the count.
  let total = list.length
  if (more) {
    total = 0
    for (const s of options.shard === undefined ? await shards(redis, configuredShards) : [options.shard]) total += await redis.xlen(deadLetterKey(s))
  }
  const cut = more ? `showing the first ${list.length} of ${total} dead letters, in shard order: --limit ${total} shows them all, --shard N one shard's` : undefined
  if (out.json) {
    if (cut) out.note(cut)
    return out.data(list.map(({ fields: _fields, rawFields: _raw, ...rest }) => rest))
  }
  if (list.length === 0) return out.line('the dead-letter streams are empty')
  out.table(['dead letter', 'shard', 'original entry', 'code', 'failed at', 'error'], list.map((d) => [d.dlqId, String(d.shard), d.id, d.code, d.failedAt, d.error.slice(0, 60)]))
  out.line('')
  if (cut) out.line(cut)
  out.line('pnpm tributary dlq show <dead letter> prints its events')
}

/**
 * XADD the entry back into its stream, then XDEL the dead letter, in one script: an XADD
 * that fails (a wrong-type key, say) stops it before the XDEL, so a dead letter is never
 * deleted without its entry back in the stream (in a MULTI the XDEL would still run); and
 * a dead letter already gone (another replay or drop got there first) is not put back twice.
 */
const REPLAY_SCRIPT = `if #redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[2], ARGV[1])
return 1`

/** Why a dead letter cannot be replayed as it is, or undefined when it can. */
function unreplayable(letter: DeadLetter): string | undefined {
  if (letter.fields === null) return letter.fieldsError
  // The worker writes the stream it read the entry from, which is always its shard's.
  if (letter.stream !== streamKey(letter.shard)) return `its stream field (${JSON.stringify(letter.stream)}) is not ${streamKey(letter.shard)}`
  return undefined
}

/**
 * Puts dead letters back into their stream as new entries and removes them from the
 * dead-letter stream, one script call per entry, so each is replayed once. Replaying an
 * event the database has since accepted does nothing: the unique (tenant_id, event_id) key
 * holds. A dead letter that cannot be replayed as it is (its fields do not parse) stays
 * where it is, and is named; `dlq show` and `dlq drop` still work on it.
 */
export async function dlqReplay(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id?: string }) {
  const letters: DeadLetter[] = []
  if (options.id) letters.push(await theOne(redis, configuredShards, options.id, options.shard))
  else for await (const letter of lettersOf(redis, configuredShards, options.shard)) letters.push(letter)
  let replayed = 0
  const skipped: Array<{ dlqId: string; shard: number; reason: string }> = []
  for (const letter of letters) {
    const reason = unreplayable(letter)
    if (reason !== undefined) {
      skipped.push({ dlqId: letter.dlqId, shard: letter.shard, reason })
      continue
    }
    let done: unknown
    try {
      done = await redis.eval(REPLAY_SCRIPT, 2, letter.stream, deadLetterKey(letter.shard), letter.dlqId, ...letter.fields!)
    } catch (err) {
      throw new OperationError(`replayed ${replayed} of ${letters.length} dead letters, then ${letter.dlqId} (shard ${letter.shard}) failed and stays a dead letter: ${(err as Error).message}`)
    }
    if (done === 1) replayed++
    else skipped.push({ dlqId: letter.dlqId, shard: letter.shard, reason: 'gone before it could be replayed (another replay or drop)' })
  }
  if (out.json) return out.data({ replayed, skipped })
  out.line(`replayed ${replayed} dead letter${replayed === 1 ? '' : 's'} into their streams`)
  for (const s of skipped) out.line(`kept ${s.dlqId} (shard ${s.shard}): ${s.reason}`)
}

/**
 * Deletes the one dead letter `id` names, for events the operator has decided never to
 * store (a deleted tenant's, say). Only by id, one at a time: events acknowledged to a
 * client are never dropped in bulk by a typo.
 */
export async function dlqDrop(redis: Redis, out: Output, configuredShards: number, options: { shard?: number; id: string }) {
  const letter = await theOne(redis, configuredShards, options.id, options.shard)
  await redis.xdel(deadLetterKey(letter.shard), letter.dlqId)
  if (out.json) return out.data({ dropped: letter.dlqId, shard: letter.shard })
  out.line(`dropped dead letter ${letter.dlqId} (shard ${letter.shard}, entry ${letter.id})`)
}

/** What a dead letter holds, read as far as it can be: the whole entry, else its raw fields and lines. */
interface DeadLetterContents {
  entry: ReturnType<typeof entryView> | null
  /** Why the entry does not decode (often why it was dead-lettered); null when it does. */
  decodeError: string | null
  /** The original fields by name, as stored (`z` compressed); {} when they do not parse. */
  fields: Record<string, string>
  /** The dead letter's `fields` as stored, when it is not a list of names and values; else null. */
  rawFields: string | null
  /** The event lines `z` unpacks to, when it does: readable even when the entry is not. */
  lines: string[] | null
}

function readDeadLetter(letter: DeadLetter): DeadLetterContents {
  const fields = letter.fields
  if (fields === null) return { entry: null, decodeError: letter.fieldsError!, fields: {}, rawFields: letter.rawFields!, lines: null }
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
    return { entry: entryView(decodeEntry(fields)), decodeError: null, fields: byName, rawFields: null, lines }
  } catch (err) {
    return { entry: null, decodeError: (err as Error).message, fields: byName, rawFields: null, lines }
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
    const { fields: _fields, fieldsError: _error, rawFields: _raw, ...deadLetter } = letter
    return { deadLetter, ...readDeadLetter(letter) }
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
    if (s.rawFields !== null) out.line(`fields as stored  ${s.rawFields}`)
    for (const [name, value] of Object.entries(s.fields)) {
      if (name === 'z') out.line(`z  ${value.length} characters, ${s.lines ? `unpacked into the ${s.lines.length} lines below` : 'which do not unpack'}`)
      else out.line(`${name}  ${value}`)
    }
    if (s.lines) for (const line of s.lines) out.line(line)
  })
}
