import { readFileSync } from 'node:fs'
import t from 'tap'
import { testRedis } from '@tributary/servers'
import { decodeEntry, encodeEventJson, encodeEventLines } from '@tributary/shared'

// append.lua called directly, for what ingest never sends and for what an older version
// left in Redis.

const script = readFileSync(new URL('../src/event-log/append.lua', import.meta.url), 'utf8')
const STREAM = 'tributary:events:{0}'
const header = (dedupSeconds = 3600) => ['ev', 'tributary:', '{0}', Date.now(), 0, 0, 1_800_000, dedupSeconds, 86_400]
const request = (meta: string, count: number, lines = '{"i":"x"}') => ['tenant-a', 'key-a', Date.now(), count, '0123456789abcdef', meta, lines]
// Event times are ms from the request's receivedAt: 0 is when it was received.
const metaOf = (ids: string[]) => JSON.stringify([ids, ids.map(() => 0), ids.map(() => '/'), 'user-1', ''])

t.test('a request whose meta does not hold its count of events is answered bad and changes nothing; the others of the call go on', async (t) => {
  const { redis } = await testRedis(t)
  const bad: Array<[string, string]> = [
    ['not JSON', '[["e2"'],
    ['not an array', '"e2"'],
    ['fewer tokens than the count', metaOf([])],
    ['fewer times than tokens', JSON.stringify([['e2'], [], ['/'], 'u', ''])],
    ['user keys of the wrong length', JSON.stringify([['e2'], [1], ['/'], ['u', 'v'], ''])],
    ['a session id that is neither a string nor a list', JSON.stringify([['e2'], [1], ['/'], 'u', 7])],
    ['id times of the wrong length', JSON.stringify([['e2'], [1], ['/'], 'u', '', [1, 2]])],
    ['an id range without its latest time', JSON.stringify([['e2'], [1], ['/'], 'u', '', { e: 1 }])],
    ['an id range that ends before it starts', JSON.stringify([['e2'], [1], ['/'], 'u', '', { e: 2, l: 1 }])],
  ]
  for (const [what, meta] of bad) {
    const reply = await redis.eval(script, 1, STREAM, ...header(), 2, ...request(metaOf([`good-${what}`]), 1), ...request(meta, 1))
    t.same(reply, ['ok', 'a', 'bad', ''], what)
  }
  // Ingest never sends a request without events, but one must not break the call it is in.
  t.same(await redis.eval(script, 1, STREAM, ...header(), 2, ...request(metaOf([]), 0), ...request(metaOf(['e4']), 1)), ['ok', '', 'ok', 'a'], 'a request of no events, then a good one')
  const notATime = ['tenant-a', 'key-a', 'yesterday', 1, '0123456789abcdef', metaOf(['e3']), '{"i":"x"}']
  t.same(await redis.eval(script, 1, STREAM, ...header(), 1, ...notATime), ['bad', ''], 'a receivedAt that is not a number (the events\' times count from it)')
  t.equal(await redis.xlen(STREAM), bad.length + 1, 'one entry per good request, none for the bad ones')
  const seen = await redis.keys('tributary:dedup:*')
  t.equal(seen.length, 1)
  t.same((await redis.smembers(seen[0]!)).sort(), [...bad.map(([what]) => `good-${what}`), 'e4'].sort(), 'only the good requests\' ids are remembered')
})

t.test('ids remembered by the layout before 4bb1bce (7 sets of a sixth of the window, "seen:") are still duplicates', async (t) => {
  const { redis } = await testRedis(t)
  const legacyBucket = Math.floor(Math.floor(Date.now() / 1000) / Math.ceil(3600 / 6))
  await redis.sadd(`tributary:seen:{0}:tenant-a:${legacyBucket - 5}`, 'sent-before-upgrade')
  const reply = await redis.eval(script, 1, STREAM, ...header(), 1, ...request(metaOf(['sent-before-upgrade', 'new-one']), 2, packed('sent-before-upgrade', 'new-one')))
  t.same(reply, ['ok', 'da'])
  const entries = (await redis.xrange(STREAM, '-', '+')) as Array<[string, string[]]>
  t.equal(entries.length, 1)
  const entry = decodeEntry(entries[0]![1])
  t.same(entry.kind === 'ev' && entry.events.map((e) => e.eventId), ['new-one'], 'only the new event is in the entry')
})

/** Event lines as ingest sends them: JSON lines, compressed (stream-codec.ts). */
const packed = (...ids: string[]) => encodeEventLines(Buffer.from(ids.map((id) => encodeEventJson({ eventId: id, type: 'pageview', page: '/', occurredAt: 1 } as never)).join('\n'))).toString('latin1')

t.test('an entry holds the lines as ingest sent them, the accepted ones named when some were not, and one session and user for all when they share them', async (t) => {
  const { redis } = await testRedis(t)
  const fieldsOf = async () => {
    const entries = (await redis.xrange(STREAM, '-', '+')) as Array<[string, string[]]>
    const [, flat] = entries[entries.length - 1]!
    return Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!]))
  }
  const lines = packed('e1', 'e2', 'e3')
  t.same(await redis.eval(script, 1, STREAM, ...header(), 1, ...request(metaOf(['e1', 'e2', 'e3']), 3, lines)), ['ok', 'aaa'])
  let f = await fieldsOf()
  t.match(f, { v: '2', k: 'ev', z: lines, u: 'user-1' }, 'version 2, the lines untouched, one user key')
  t.equal(f.a, undefined, 'no accepted list when every event was')
  t.notOk(f.s!.includes('\n'), 'one session id: all three events went to the same session')

  // e2 again between two new ones, for two users: per-line users, and `a` names lines 0 and 2.
  const meta = JSON.stringify([['n1', 'e2', 'n3'], [0, 0, 0], ['/', '/', '/'], ['user-1', 'user-1', 'user-2'], ''])
  const again = packed('n1', 'e2', 'n3')
  t.same(await redis.eval(script, 1, STREAM, ...header(), 1, ...request(meta, 3, again)), ['ok', 'ada'])
  f = await fieldsOf()
  t.match(f, { v: '2', z: again, a: '0,2', u: 'user-1\nuser-2' }, 'the accepted lines named, a user key per event')
  t.equal(f.s!.split('\n').length, 2, 'a session id per event: two users, two sessions')
  const entry = decodeEntry(Object.entries(f).flat())
  t.same(entry.kind === 'ev' && entry.events.map((e) => [e.eventId, e.userKey]), [['n1', 'user-1'], ['n3', 'user-2']], 'the worker reads back the accepted events')

  // An unknown session (no user key, a session id never started) is not accepted either.
  const withUnknown = JSON.stringify([['u1', 'u2', 'u3'], [0, 0, 0], ['/', '/', '/'], ['', 'user-1', 'user-1'], ['never-started', '', '']])
  t.same(await redis.eval(script, 1, STREAM, ...header(), 1, ...request(withUnknown, 3, packed('u1', 'u2', 'u3'))), ['ok', 'uaa'])
  f = await fieldsOf()
  t.same([f.a, f.u], ['1,2', 'user-1'], 'the unknown session\'s line is left out; the other two share their user')
})
