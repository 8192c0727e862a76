import { readFileSync } from 'node:fs'
import t from 'tap'
import { testRedis } from '@tributary/servers'

// append.lua called directly, for what ingest never sends and for what an older version
// left in Redis.

const script = readFileSync(new URL('../src/event-log/append.lua', import.meta.url), 'utf8')
const STREAM = 'tributary:events:{0}'
const header = (dedupSeconds = 3600) => ['ev', 'tributary:', '{0}', Date.now(), 0, 0, 1_800_000, dedupSeconds, 86_400]
const request = (meta: string, count: number, lines = '{"i":"x"}') => ['tenant-a', 'key-a', Date.now(), count, '0123456789abcdef', meta, lines]
const metaOf = (ids: string[]) => JSON.stringify([ids, ids.map(() => Date.now()), ids.map(() => '/'), 'user-1', ''])

t.test('a request whose meta does not hold its count of events is answered bad and changes nothing; the others of the call go on', async (t) => {
  const { redis } = await testRedis(t)
  const bad: Array<[string, string]> = [
    ['not JSON', '[["e2"'],
    ['not an array', '"e2"'],
    ['fewer tokens than the count', metaOf([])],
    ['fewer times than tokens', JSON.stringify([['e2'], [], ['/'], 'u', ''])],
    ['user keys of the wrong length', JSON.stringify([['e2'], [1], ['/'], ['u', 'v'], ''])],
    ['a session id that is neither a string nor a list', JSON.stringify([['e2'], [1], ['/'], 'u', 7])],
  ]
  for (const [what, meta] of bad) {
    const reply = await redis.eval(script, 1, STREAM, ...header(), 2, ...request(metaOf([`good-${what}`]), 1), ...request(meta, 1))
    t.same(reply, ['ok', 'a', 'bad', ''], what)
  }
  t.equal(await redis.xlen(STREAM), bad.length, 'one entry per good request, none for the bad ones')
  const seen = await redis.keys('tributary:dedup:*')
  t.equal(seen.length, 1)
  t.same((await redis.smembers(seen[0]!)).sort(), bad.map(([what]) => `good-${what}`).sort(), 'only the good requests\' ids are remembered')
})

t.test('ids remembered by the layout before 4bb1bce (7 sets of a sixth of the window, "seen:") are still duplicates', async (t) => {
  const { redis } = await testRedis(t)
  const legacyBucket = Math.floor(Math.floor(Date.now() / 1000) / Math.ceil(3600 / 6))
  await redis.sadd(`tributary:seen:{0}:tenant-a:${legacyBucket - 5}`, 'sent-before-upgrade')
  const reply = await redis.eval(script, 1, STREAM, ...header(), 1, ...request(metaOf(['sent-before-upgrade', 'new-one']), 2, '{"i":"a"}\n{"i":"b"}'))
  t.same(reply, ['ok', 'da'])
  const entries = (await redis.xrange(STREAM, '-', '+')) as Array<[string, string[]]>
  t.equal(entries.length, 1)
  const fields = entries[0]![1]
  t.equal(fields[fields.indexOf('e') + 1], '{"i":"b"}', 'only the new event is in the entry')
})
