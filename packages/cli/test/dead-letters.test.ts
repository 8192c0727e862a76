import t from 'tap'
import { cli } from './fixtures/run-cli.ts'
import { AT, EVENTS, eventEntry, json, TENANT, z } from './fixtures/dead-letters.ts'
import { testDatabase } from '@tributary/db/testing'
import { testRedis } from '@tributary/servers'
import { deadLetterKey, encodeEventJson, streamKey } from '@tributary/shared'

const sessionEntry = ['v', '2', 'k', 'ss', 't', TENANT, 'r', String(AT), 'u', 'v1', 'd', JSON.stringify({ id: 'sess-1', uk: 'v1', ai: 'v1', at: AT })]
/** From a newer ingest than this CLI knows: the lines still unpack. */
const newerEntry = ['v', '9', 'k', 'ev', 't', TENANT, 'r', String(AT), 'z', z, 's', 'sess-1', 'u', 'v1']
const corruptEntry = ['v', '2', 'k', 'ev', 't', TENANT, 'r', String(AT), 'z', 'bm90IGRlZmxhdGU=', 's', 'sess-1', 'u', 'v1']

t.test('dlq show decodes a dead letter, dlq drop deletes one by id', async (t) => {
  const { url: databaseUrl } = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '2' }
  // As apps/worker/src/dead-letter.ts writes them.
  const bury = (originalId: string, fields: string[], code: string, error: string) =>
    redis.xadd(deadLetterKey(1), '*', 'stream', streamKey(1), 'id', originalId, 'code', code, 'error', error, 'failedAt', '2026-11-28T10:01:00.000Z', 'fields', JSON.stringify(fields)) as Promise<string>
  const eventsLetter = await bury('5-1', eventEntry, '23503', 'insert or update on table "activities" violates foreign key constraint')
  const sessionLetter = await bury('5-2', sessionEntry, '23503', 'the tenant is gone')
  const newerLetter = await bury('5-3', newerEntry, 'decode', 'unknown codec version "9"')
  const corruptLetter = await bury('5-4', corruptEntry, 'decode', 'event lines that do not decompress')

  const [shown, ...more] = await json(env, 'dlq', 'show', eventsLetter)
  t.equal(more.length, 0, 'one dead letter has that id')
  t.same(shown.deadLetter, { dlqId: eventsLetter, shard: 1, stream: streamKey(1), id: '5-1', code: '23503', error: 'insert or update on table "activities" violates foreign key constraint', failedAt: '2026-11-28T10:01:00.000Z' })
  t.equal(shown.decodeError, null)
  t.same(shown.entry, {
    kind: 'ev',
    tenantId: TENANT,
    receivedAt: '2026-11-28T10:00:05.000Z',
    events: [
      { eventId: 'e-1', type: 'pageview', anonymousId: 'v1', page: '/pricing', sessionId: 'sess-1', userKey: 'v1', occurredAt: '2026-11-28T10:00:00.000Z', metadata: { referrer: 'https://example.com/' } },
      { eventId: 'e-3', type: 'action', anonymousId: 'v1', action: 'buy', sessionId: 'sess-1', userKey: 'v1', occurredAt: '2026-11-28T10:00:02.000Z', metadata: { sku: 'A-1', price: 9.5 } },
    ],
  }, 'only the lines the entry accepted (a), metadata parsed, times readable')
  t.equal(shown.lines.length, 3, 'and every line z unpacks to')
  t.equal(shown.fields.z, z, 'the stored fields as they are')

  const [byEntryId] = await json(env, 'dlq', 'show', '5-1')
  t.equal(byEntryId.deadLetter.dlqId, eventsLetter, 'found by the id its entry had in the stream too')
  // Entry ids are per stream: another shard's stream can have had an entry 5-1 too.
  const twin = (await redis.xadd(deadLetterKey(0), '*', 'stream', streamKey(0), 'id', '5-1', 'code', 'decode', 'error', 'x', 'failedAt', '2026-11-28T10:02:00.000Z', 'fields', JSON.stringify(eventEntry)))!
  const both = await json(env, 'dlq', 'show', '5-1')
  t.same(both.map((d: { deadLetter: { dlqId: string; shard: number } }) => `${d.deadLetter.shard}/${d.deadLetter.dlqId}`), [`0/${twin}`, `1/${eventsLetter}`], 'every dead letter the id names')
  t.equal((await json(env, 'dlq', 'show', '5-1', '--shard', '1')).length, 1, '--shard narrows it')
  const ambiguous = await cli(env, 'dlq', 'drop', '5-1')
  t.equal(ambiguous.code, 2, 'drop refuses an id that names two dead letters')
  t.match(ambiguous.stderr, `5-1 names 2 dead letters: dead letter ${twin} on shard 0 (entry 5-1), dead letter ${eventsLetter} on shard 1 (entry 5-1); add --shard N`)
  t.same([await redis.xlen(deadLetterKey(0)), await redis.xlen(deadLetterKey(1))], [1, 4], 'and drops neither')
  t.same(await json(env, 'dlq', 'drop', '--id', '5-1', '--shard', '0'), { dropped: twin, shard: 0 })
  t.equal(await redis.xlen(deadLetterKey(0)), 0)

  const text = await cli(env, 'dlq', 'show', eventsLetter)
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, `reason        23503: insert or update on table "activities" violates foreign key constraint\n`)
  t.match(text.stdout, `holds         2 events of tenant ${TENANT}, received 2026-11-28T10:00:05.000Z (version 2)\n`)
  t.match(text.stdout, '"eventId":"e-1"')
  t.match(text.stdout, '"eventId":"e-3"')
  t.notMatch(text.stdout, '"e-2"', 'not the line the entry left out')

  const [session] = await json(env, 'dlq', 'show', sessionLetter)
  t.same(session.entry, { kind: 'ss', tenantId: TENANT, receivedAt: '2026-11-28T10:00:00.000Z', userKey: 'v1', session: { id: 'sess-1', uk: 'v1', ai: 'v1', at: '2026-11-28T10:00:00.000Z' } })
  t.equal(session.lines, null)
  t.match((await cli(env, 'dlq', 'show', sessionLetter)).stdout, 'holds         session start of v1 of tenant')

  const [newer] = await json(env, 'dlq', 'show', newerLetter)
  t.equal(newer.entry, null)
  t.equal(newer.decodeError, 'unknown codec version "9"')
  t.same(newer.lines, EVENTS.map(encodeEventJson), 'the lines, readable though the entry is not')
  const newerText = (await cli(env, 'dlq', 'show', newerLetter)).stdout
  t.match(newerText, 'holds         an entry that does not decode: unknown codec version "9"\n')
  t.match(newerText, `z  ${z.length} characters, unpacked into the 3 lines below\n`)
  t.match(newerText, `${encodeEventJson(EVENTS[1]!)}\n`)

  const [corrupt] = await json(env, 'dlq', 'show', corruptLetter)
  t.equal(corrupt.lines, null)
  t.match(corrupt.decodeError, /do not decompress/)
  t.match((await cli(env, 'dlq', 'show', corruptLetter)).stdout, 'z  16 characters, which do not unpack\n')

  const missing = await cli(env, 'dlq', 'show', '7-7')
  t.equal(missing.code, 2)
  t.match(missing.stderr, 'no dead letter with id 7-7 (pnpm tributary dlq list)')
  const wrongShard = await cli(env, 'dlq', 'show', eventsLetter, '--shard', '0')
  t.equal(wrongShard.code, 2)
  t.match(wrongShard.stderr, `no dead letter with id ${eventsLetter} on shard 0`)
  const noId = await cli(env, 'dlq', 'show')
  t.equal(noId.code, 2)
  t.match(noId.stderr, 'dlq show needs an argument')

  const dropWithoutId = await cli(env, 'dlq', 'drop')
  t.equal(dropWithoutId.code, 2)
  t.match(dropWithoutId.stderr, 'dlq drop needs the id of one dead letter')
  t.equal(await redis.xlen(deadLetterKey(1)), 4, 'nothing dropped without an id')
  t.same(await json(env, 'dlq', 'drop', '--id', corruptLetter), { dropped: corruptLetter, shard: 1 })
  t.same((await redis.xrange(deadLetterKey(1), '-', '+')).map(([id]) => id), [eventsLetter, sessionLetter, newerLetter], 'only that one is gone')
  const dropAgain = await cli(env, 'dlq', 'drop', '--id', corruptLetter)
  t.equal(dropAgain.code, 2)
  t.match(dropAgain.stderr, `no dead letter with id ${corruptLetter}`)
  t.match((await cli(env, 'dlq', 'drop', '5-2')).stdout, `dropped dead letter ${sessionLetter} (shard 1, entry 5-2)\n`, 'the id as an argument, as for show')
  t.equal(await redis.xlen(deadLetterKey(1)), 2)
})

t.test('dlq list and replay read past the first page of a long dead-letter stream', async (t) => {
  const { url: databaseUrl } = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '1' }
  const letters = 2_345
  const pipeline = redis.pipeline()
  for (let i = 0; i < letters; i++) {
    pipeline.xadd(deadLetterKey(0), '*', 'stream', streamKey(0), 'id', `9-${i}`, 'code', 'decode', 'error', 'x', 'failedAt', '2026-11-28T10:01:00.000Z', 'fields', JSON.stringify(['v', '2', 'k', 'ev', 'n', String(i)]))
  }
  await pipeline.exec()

  t.equal((await json(env, 'dlq', 'list', '--limit', '3')).length, 3, '--limit caps the list')
  const all = await json(env, 'dlq', 'list', '--limit', '5000')
  t.equal(all.length, letters)
  t.equal(all[letters - 1].id, `9-${letters - 1}`, 'the last one too, in order')
  t.equal((await json(env, 'dlq', 'show', `9-${letters - 1}`))[0].deadLetter.id, `9-${letters - 1}`, 'show finds one past the first page')

  t.same(await json(env, 'dlq', 'replay'), { replayed: letters, skipped: [] })
  t.equal(await redis.xlen(deadLetterKey(0)), 0)
  const replayed = await redis.xrange(streamKey(0), '-', '+')
  t.same(replayed.map(([, fields]) => fields[fields.length - 1]), Array.from({ length: letters }, (_, i) => String(i)), 'each back in its stream once, in order')
})
