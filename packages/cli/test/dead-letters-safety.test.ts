import t from 'tap'
import { cli } from './fixtures/run-cli.ts'
import { eventEntry, json } from './fixtures/dead-letters.ts'
import { testDatabase } from '@tributary/db/testing'
import { testRedis } from '@tributary/servers'
import { deadLetterKey, streamKey } from '@tributary/shared'

// Apart from dead-letters.test.ts so that each file's CLI runs fit tap's per-file timeout.

t.test('dlq commands refuse what they cannot do safely, and keep what they cannot read', async (t) => {
  const { url: databaseUrl } = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '2' }
  const bury = (shard: number, originalId: string, fields: string, stream = streamKey(shard)) =>
    redis.xadd(deadLetterKey(shard), '*', 'stream', stream, 'id', originalId, 'code', 'decode', 'error', 'x', 'failedAt', '2026-11-28T10:01:00.000Z', 'fields', fields) as Promise<string>
  const good = await bury(0, '1-1', JSON.stringify(eventEntry))
  const notJson = await bury(0, '1-2', '{"v":')
  const odd = await bury(0, '1-3', JSON.stringify(['v', '2', 'k']))
  const elsewhere = await bury(1, '1-4', JSON.stringify(eventEntry), 'somewhere:else')
  const state = async () => [await redis.xlen(deadLetterKey(0)), await redis.xlen(deadLetterKey(1)), await redis.xlen(streamKey(0)), await redis.xlen(streamKey(1))]

  // Words too many, and ids given twice, are refused before anything runs.
  const refusals: Array<[string[], string]> = [
    [['dlq', 'replay', good, 'extra'], 'dlq replay takes one argument; unexpected "extra"'],
    [['dlq', 'list', 'all'], 'dlq list takes no argument; unexpected "all"'],
    [['dlq', 'drop', good, '--id', notJson], `two ids: ${good} and --id ${notJson}; give one`],
    [['status', '--id', good], '--id is for the dlq commands'],
    [['dlq', 'list', '--shard', '1e0'], '--shard is a shard number (0, 1, …), not "1e0"'],
    [['dlq', 'list', '--shard', ''], '--shard is a shard number (0, 1, …), not ""'],
    [['dlq', 'list', '--shard', '-1'], "'--shard' argument is ambiguous"],
    [['dlq', 'replay', ''], 'dlq replay was given an empty argument'],
    [['dlq', 'replay', '--id', ' '], 'dlq replay was given an empty argument'],
  ]
  for (const [args, message] of refusals) {
    const run = await cli(env, ...args)
    t.equal(run.code, 2, `${args.join(' ')} is refused`)
    t.match(run.stderr, message)
  }
  t.same(await state(), [3, 1, 0, 0], 'nothing replayed or dropped')

  // A dead letter whose fields do not parse is listed, shown and droppable; replay keeps it.
  const listed = await json(env, 'dlq', 'list')
  t.same(listed.map((d: { dlqId: string }) => d.dlqId), [good, notJson, odd, elsewhere], 'every one is listed')
  t.match(listed[1].fieldsError, /^fields is not JSON: /)
  const [shown] = await json(env, 'dlq', 'show', notJson)
  t.same([shown.entry, shown.rawFields, shown.lines], [null, '{"v":', null])
  t.match(shown.decodeError, /^fields is not JSON/)
  t.match((await cli(env, 'dlq', 'show', odd)).stdout, 'fields as stored  ["v","2","k"]\n')

  const replay = await json(env, 'dlq', 'replay')
  t.same(replay, {
    replayed: 1,
    skipped: [
      { dlqId: notJson, shard: 0, reason: String(replay.skipped[0].reason).startsWith('fields is not JSON: ') ? replay.skipped[0].reason : 'fields is not JSON: …' },
      { dlqId: odd, shard: 0, reason: 'fields is not a list of names and values (strings, an even number of them)' },
      { dlqId: elsewhere, shard: 1, reason: `its stream field ("somewhere:else") is not ${streamKey(1)}` },
    ],
  }, 'the good one replayed, the others kept and named')
  t.same(await state(), [2, 1, 1, 0])
  t.equal(await redis.exists('somewhere:else'), 0, 'nothing written to a key the letter named')
  t.same(await json(env, 'dlq', 'drop', notJson, '--shard', '0'), { dropped: notJson, shard: 0 }, 'an unreadable one can still be dropped')

  // An XADD that fails leaves the dead letter where it is (a MULTI would have deleted it anyway).
  const again = await bury(1, '1-5', JSON.stringify(eventEntry))
  await redis.set(streamKey(1), 'not a stream')
  const failed = await cli(env, 'dlq', 'replay', again)
  t.equal(failed.code, 1)
  t.match(failed.stderr, `replayed 0 of 1 dead letters, then ${again} (shard 1) failed and stays a dead letter: WRONGTYPE`)
  t.equal(await redis.xlen(deadLetterKey(1)), 2, 'still a dead letter')
})

t.test('dlq list says when --limit cut it, and how many there are', async (t) => {
  const { url: databaseUrl } = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '2' }
  for (const [shard, n] of [[0, 4], [1, 2]] as const) {
    for (let i = 0; i < n; i++) await redis.xadd(deadLetterKey(shard), '*', 'stream', streamKey(shard), 'id', `${shard}-${i}`, 'code', 'decode', 'error', 'x', 'failedAt', 'f', 'fields', JSON.stringify(eventEntry))
  }
  const text = await cli(env, 'dlq', 'list', '--limit', '3')
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, 'showing the first 3 of 6 dead letters, in shard order: --limit 6 shows them all, --shard N one shard\'s\n')
  const asJson = await cli(env, 'dlq', 'list', '--limit', '3', '--json')
  t.equal(JSON.parse(asJson.stdout).length, 3, 'stdout is the JSON list alone')
  t.match(asJson.stderr, 'showing the first 3 of 6 dead letters', 'the remark on stderr')
  t.match((await cli(env, 'dlq', 'list', '--shard', '1', '--limit', '1')).stdout, 'showing the first 1 of 2 dead letters')
  const whole = await cli(env, 'dlq', 'list', '--limit', '6')
  t.notMatch(whole.stdout, 'showing the first', 'no remark when nothing was cut')
  t.equal(whole.stdout.split('\n').filter((l) => l.includes(' decode ')).length, 6)
})
