import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Redis } from 'ioredis'
import { testRedis } from '@tributary/servers'

// append.lua's seen-id sets, driven with the script's own clock (its `now` argument), so a
// test can move through hours of buckets in a second. The times stay ahead of the real
// clock: Redis expires the sets by its own.

const script = readFileSync(new URL('../src/event-log/append.lua', import.meta.url), 'utf8')
const STREAM = 'tributary:events:{0}'
const WINDOW_SECONDS = 3600
const BUCKET_MS = (WINDOW_SECONDS / 3) * 1000
const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** A UUIDv7 made at `ms`, with fixed random bits told apart by `n`. */
const uuidv7At = (ms: number, n: number) => {
  const hex = ms.toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-9def-${n.toString(16).padStart(12, '0')}`
}

interface Sent {
  token: string
  /** ms of the id when it is a UUIDv7, else 0 (what ingest sends). */
  idTime: number
}

async function send(redis: Redis, sha: string, now: number, tenant: string, events: Sent[]): Promise<string> {
  const meta = JSON.stringify([events.map((e) => e.token), events.map(() => now), events.map(() => '/'), 'user-1', '', events.some((e) => e.idTime) ? events.map((e) => e.idTime) : 0])
  const lines = events.map((_, i) => `{"i":"${i}"}`).join('\n')
  const reply = (await redis.evalsha(sha, 1, STREAM, 'ev', 'tributary:', '{0}', now, 0, 0, 1_800_000, WINDOW_SECONDS, 86_400, 1, tenant, 'key-a', now, events.length, '0123456789abcdef', meta, lines)) as string[]
  if (reply[0] !== 'ok') throw new Error(`append.lua answered ${reply.join(' ')}`)
  return reply[1]!
}

const smismemberCalls = async (redis: Redis) => Number((await redis.info('commandstats')).match(/cmdstat_smismember:calls=(\d+)/)?.[1] ?? 0)

/** The start of a bucket at least an hour ahead of the real clock. */
const futureBucketStart = () => (Math.floor((Date.now() + HOUR) / BUCKET_MS) + 1) * BUCKET_MS

t.test('an id resent at any time within the window is a duplicate, whatever the clock that made it', async (t) => {
  const { redis } = await testRedis(t)
  const sha = (await redis.script('LOAD', script)) as string
  const base = futureBucketStart()
  // Where in its bucket the id is first seen.
  const firstSeen = [0, 1, 1_000, 10 * MINUTE, BUCKET_MS - 2 * MINUTE, BUCKET_MS - 1]
  // The id's own time against its first sighting: old events from a queue, clocks behind
  // and ahead, and one far in the future; undefined is an id that is not a UUIDv7.
  const idTimeOffsets = [undefined, -3 * HOUR, -61 * MINUTE, -59 * MINUTE, -21 * MINUTE, -2 * MINUTE - 1, -1_000, 0, MINUTE, 2 * MINUTE, 2 * MINUTE + 1, 3 * MINUTE, 25 * MINUTE, 59 * MINUTE, 61 * MINUTE, 5 * HOUR, 10 * 365 * 24 * HOUR]
  const resentAfter = [0, 1, 1_000, 2 * MINUTE, 10 * MINUTE, 20 * MINUTE, 21 * MINUTE, 40 * MINUTE, 59 * MINUTE, HOUR - 1_000, HOUR]
  let cases = 0
  const missed: string[] = []
  for (const position of firstSeen) {
    for (const offset of idTimeOffsets) {
      for (const after of resentAfter) {
        cases++
        const at = base + position
        const tenant = `tenant-${cases}`
        const event = offset === undefined ? { token: `plain-${cases}`, idTime: 0 } : { token: uuidv7At(at + offset, cases), idTime: at + offset }
        const first = await send(redis, sha, at, tenant, [event])
        const again = await send(redis, sha, at + after, tenant, [event])
        if (first !== 'a' || again !== 'd') missed.push(`seen ${position} ms into a bucket, id time ${offset ?? 'none'}, resent ${after} ms later: ${first} then ${again}`)
      }
    }
  }
  t.equal(cases, firstSeen.length * idTimeOffsets.length * resentAfter.length)
  t.same(missed, [], `accepted once, then a duplicate, in all ${cases} cases`)
})

t.test('a long-running tenant looks a fresh UUIDv7 up in one set, an id without a time in four', async (t) => {
  const { redis } = await testRedis(t)
  const sha = (await redis.script('LOAD', script)) as string
  const now = futureBucketStart() + 10 * MINUTE
  const bucket = Math.floor(now / BUCKET_MS)
  // A tenant that has sent for a whole window has four sets.
  for (let b = bucket - 3; b <= bucket; b++) await redis.sadd(`tributary:dedup:{0}:tenant-a:${b}`, `older-${b}`)
  const fresh = Array.from({ length: 50 }, (_, i) => ({ token: uuidv7At(now - 1_000 + i, i), idTime: now - 1_000 + i }))
  await redis.config('RESETSTAT')
  t.equal(await send(redis, sha, now, 'tenant-a', fresh), 'a'.repeat(50))
  t.equal(await smismemberCalls(redis), 1, 'fresh UUIDv7s: one lookup each')

  const plain = Array.from({ length: 50 }, (_, i) => ({ token: `plain-${i}`, idTime: 0 }))
  await redis.config('RESETSTAT')
  t.equal(await send(redis, sha, now, 'tenant-a', plain), 'a'.repeat(50))
  t.equal(await smismemberCalls(redis), 4, 'ids without a time: four lookups each')

  t.equal(await send(redis, sha, now + MINUTE, 'tenant-a', [...fresh, ...plain]), 'd'.repeat(100), 'all of them are duplicates a minute later')
  t.equal(await send(redis, sha, now + MINUTE, 'tenant-a', [{ token: `older-${bucket - 3}`, idTime: 0 }]), 'd', 'an id of the oldest set still counts')
})

t.test('an id from a clock far ahead is kept at most a window ahead, so its set still expires', async (t) => {
  const { redis } = await testRedis(t)
  const sha = (await redis.script('LOAD', script)) as string
  const now = futureBucketStart() + 10 * MINUTE
  const farAhead = now + 10 * 365 * 24 * HOUR
  t.equal(await send(redis, sha, now, 'tenant-a', [{ token: uuidv7At(farAhead, 1), idTime: farAhead }]), 'a')
  const keys = await redis.keys('tributary:dedup:{0}:tenant-a:*')
  t.equal(keys.length, 1)
  const expiresAt = await redis.call('EXPIRETIME', keys[0]!)
  t.ok(Number(expiresAt) <= (now + 2 * WINDOW_SECONDS * 1000 + BUCKET_MS) / 1000 + 60, `expires ${Number(expiresAt) - now / 1000} s after the call: at most two windows, a bucket and a minute`)
})

t.test('ids kept by the version before id times (always in the bucket of their first sighting) are still duplicates', async (t) => {
  const { redis } = await testRedis(t)
  const sha = (await redis.script('LOAD', script)) as string
  const at = futureBucketStart() + 15 * MINUTE
  // What that version did for any id; it holds for this one as long as the id's clock ran
  // at most CLOCK_AHEAD (2 minutes) ahead of ingest's.
  for (const [n, offset] of [-HOUR, -1_000, 0, MINUTE, 2 * MINUTE].entries()) {
    const id = uuidv7At(at + offset, n)
    await redis.sadd(`tributary:dedup:{0}:tenant-a:${Math.floor(at / BUCKET_MS)}`, id)
    for (const after of [0, 5 * MINUTE, 25 * MINUTE, 59 * MINUTE]) {
      t.equal(await send(redis, sha, at + after, 'tenant-a', [{ token: id, idTime: at + offset }]), 'd', `id time ${offset} ms from its sighting, resent ${after / MINUTE} min later`)
    }
  }
})
