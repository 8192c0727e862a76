import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { freePort, startRedis, testRedis } from '@tributary/servers'
import { uuidv7 } from '@tributary/shared'
import { createEventLog, idTimesMeta } from '../src/event-log/event-log.ts'

// append.lua's seen-id sets, driven with the script's own clock (its `now` argument), so a
// test can move through hours of buckets in a second. The times stay ahead of the real
// clock, because Redis expires the sets by its own.

const script = readFileSync(new URL('../src/event-log/append.lua', import.meta.url), 'utf8')
const STREAM = 'tributary:events:{0}'
const SINCE_KEY = 'tributary:dedup-timed-since:{0}'
const MINUTE = 60_000
const HOUR = 60 * MINUTE
const CLOCK_AHEAD = 2 * MINUTE

/** A UUIDv7 made at `ms`, its random bits told apart by `n`. */
const uuidv7At = (ms: number, n: number) => {
  const hex = ms.toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-9def-${n.toString(16).padStart(12, '0')}`
}

interface Sent {
  token: string
  /** ms of the id when it is a UUIDv7, else 0 (what ingest sends). */
  idTime: number
}

const bucketMs = (windowSeconds: number) => Math.ceil(windowSeconds / 3) * 1000
const seenKey = (tenant: string, at: number, windowSeconds: number) => `tributary:dedup:{0}:${tenant}:${Math.floor(at / bucketMs(windowSeconds))}`

/**
 * How a request's id times go to the script: as ingest sends them (a range when every id is
 * a UUIDv7, else one each), or always one each (what ingest sent before ranges).
 */
type IdTimesForm = 'ingest' | 'each'

async function send(redis: Redis, sha: string, now: number, tenant: string, events: Sent[], windowSeconds = 3600, form: IdTimesForm = 'ingest'): Promise<string> {
  const idTimes = events.map((e) => e.idTime)
  const idTimesArg = form === 'ingest' ? idTimesMeta(idTimes) : idTimes.some((t) => t !== 0) ? idTimes : 0
  // The events' times are ms from receivedAt (here `now`).
  const meta = JSON.stringify([events.map((e) => e.token), events.map(() => 0), events.map(() => '/'), 'user-1', '', idTimesArg])
  const lines = events.map((_, i) => `{"i":"${i}"}`).join('\n')
  const reply = (await redis.evalsha(sha, 1, STREAM, 'ev', 'tributary:', '{0}', now, 0, 0, 1_800_000, windowSeconds, 86_400, 1, tenant, 'key-a', now, events.length, '0123456789abcdef', meta, lines)) as string[]
  if (reply[0] !== 'ok') throw new Error(`append.lua answered ${reply.join(' ')}`)
  return reply[1]!
}

const smismemberCalls = async (redis: Redis) => Number((await redis.info('commandstats')).match(/cmdstat_smismember:calls=(\d+)/)?.[1] ?? 0)

/** The start of a bucket at least an hour ahead of the real clock. */
const futureBucketStart = (windowSeconds = 3600) => (Math.floor((Date.now() + HOUR) / bucketMs(windowSeconds)) + 1) * bucketMs(windowSeconds)

async function loaded(t: Parameters<typeof testRedis>[0]) {
  const { redis } = await testRedis(t)
  return { redis, sha: (await redis.script('LOAD', script)) as string }
}

/**
 * A Redis server of the test's own, for the tests that count SMISMEMBER calls: INFO
 * commandstats is per server, and on the shared one another test file running alongside
 * adds its own calls (a flaky "at most two lookups" in CI).
 */
async function privateRedis(t: Parameters<typeof testRedis>[0] & { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-dedup-count-'))
  const server = await startRedis({ port: await freePort(), dir, appendfsync: 'everysec', noSnapshots: true })
  const redis = new Redis(server.url)
  t.teardown(async () => {
    redis.disconnect()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { redis, sha: (await redis.script('LOAD', script)) as string }
}

/**
 * Sends each id once at R, then again at R + after, for every combination; returns what
 * went wrong. Also checks that the id went into the set of R's bucket (where the previous
 * version of the script looks for it too) and that this set lives until R + the window.
 */
async function resendMatrix(redis: Redis, sha: string, windowSeconds: number, base: number, firstSeen: number[], idTimeOffsets: Array<number | undefined>, resentAfter: number[], form: IdTimesForm = 'ingest') {
  let cases = 0
  const wrong: string[] = []
  for (const position of firstSeen) {
    for (const offset of idTimeOffsets) {
      for (const after of resentAfter) {
        cases++
        const at = base + position
        const tenant = `tenant-${windowSeconds}-${base}-${form}-${cases}`
        const event = offset === undefined ? { token: `plain-${cases}`, idTime: 0 } : { token: uuidv7At(at + offset, cases), idTime: at + offset }
        const what = `window ${windowSeconds} s, seen ${position} ms into a bucket, id time ${offset ?? 'none'}, resent ${after} ms later`
        const first = await send(redis, sha, at, tenant, [event], windowSeconds, form)
        const key = seenKey(tenant, at, windowSeconds)
        if (!(await redis.sismember(key, event.token))) wrong.push(`${what}: not in the set of its first sighting`)
        if (Number(await redis.call('EXPIRETIME', key)) * 1000 < at + windowSeconds * 1000) wrong.push(`${what}: its set expires within the window`)
        const again = await send(redis, sha, at + after, tenant, [event], windowSeconds, form)
        if (first !== 'a' || again !== 'd') wrong.push(`${what}: ${first} then ${again}`)
      }
    }
  }
  return { cases, wrong }
}

t.test('an id resent at any time within the window is a duplicate, whatever the clock that made it', async (t) => {
  const { redis, sha } = await loaded(t)
  const base = futureBucketStart()
  const bucket = bucketMs(3600)
  // Where in its bucket the id is first seen.
  const firstSeen = [0, 1, 1_000, CLOCK_AHEAD - 1, CLOCK_AHEAD, 10 * MINUTE, bucket - CLOCK_AHEAD, bucket - 1]
  // The id's own time against its first sighting: old events from a queue, clocks behind
  // and ahead, and one far in the future; undefined is an id that is not a UUIDv7.
  const idTimeOffsets = [undefined, -3 * HOUR, -61 * MINUTE, -59 * MINUTE, -21 * MINUTE, -CLOCK_AHEAD - 1, -1_000, 0, MINUTE, CLOCK_AHEAD, CLOCK_AHEAD + 1, 3 * MINUTE, 25 * MINUTE, 59 * MINUTE, 61 * MINUTE, 5 * HOUR, 10 * 365 * 24 * HOUR]
  const resentAfter = [0, 1, 1_000, CLOCK_AHEAD, 10 * MINUTE, 20 * MINUTE, 21 * MINUTE, 40 * MINUTE, 59 * MINUTE, HOUR - 1_000, HOUR]

  // Each id goes as a request of its own: as a range of one when it is a UUIDv7 (what
  // ingest sends), and as a list of one (what ingest sends for a request of mixed ids).
  for (const form of ['ingest', 'each'] as const) {
    // Long after the upgrade (the ids' times in use), and within 2 windows of it (not yet).
    await redis.set(SINCE_KEY, base - 3 * HOUR)
    const settled = await resendMatrix(redis, sha, 3600, base, firstSeen, idTimeOffsets, resentAfter, form)
    t.equal(settled.cases, firstSeen.length * idTimeOffsets.length * resentAfter.length)
    t.same(settled.wrong, [], `ids' times in use, sent ${form === 'ingest' ? 'as ranges' : 'one each'}: each id accepted once, then a duplicate, in all ${settled.cases} cases`)
    // The upgrade began 10 minutes before the first of these (every resend is within 2 windows).
    await redis.set(SINCE_KEY, base + 7 * HOUR - 10 * MINUTE)
    const upgrading = await resendMatrix(redis, sha, 3600, base + 7 * HOUR, firstSeen, idTimeOffsets, resentAfter, form)
    t.same(upgrading.wrong, [], `within 2 windows of the upgrade, ${form === 'ingest' ? 'as ranges' : 'one each'}: the same in all ${upgrading.cases} cases`)
  }
})

t.test('the same holds for windows that are not a multiple of 3 seconds, or shorter than the clock allowance', async (t) => {
  const { redis, sha } = await loaded(t)
  for (const windowSeconds of [1, 2, 7, 10, 600]) {
    const base = futureBucketStart(windowSeconds)
    const window = windowSeconds * 1000
    const bucket = bucketMs(windowSeconds)
    await redis.set(SINCE_KEY, base - 3 * window - HOUR)
    const { cases, wrong } = await resendMatrix(
      redis, sha, windowSeconds, base,
      [0, 1, Math.floor(bucket / 2), bucket - 1],
      [undefined, -2 * window, -window - 1, -CLOCK_AHEAD - 1, -1_000, 0, CLOCK_AHEAD + 1, window, 10 * 365 * 24 * HOUR],
      [0, 1_000, Math.floor(window / 2), window - 1, window],
    )
    t.same(wrong, [], `${windowSeconds} s window: each id accepted once, then a duplicate, in all ${cases} cases`)
  }
})

t.test('a long-running tenant looks a fresh UUIDv7 up in one set, an id without a time in four', async (t) => {
  const { redis, sha } = await privateRedis(t)
  const now = futureBucketStart() + 10 * MINUTE
  const bucket = Math.floor(now / bucketMs(3600))
  await redis.set(SINCE_KEY, now - 3 * HOUR)
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

  await redis.set(SINCE_KEY, now - 90 * MINUTE)
  const more = Array.from({ length: 50 }, (_, i) => ({ token: uuidv7At(now - 500 + i, 100 + i), idTime: now - 500 + i }))
  await redis.config('RESETSTAT')
  t.equal(await send(redis, sha, now, 'tenant-a', more), 'a'.repeat(50))
  t.equal(await smismemberCalls(redis), 4, 'within 2 windows of the upgrade, UUIDv7s too are looked up in all four')

  t.equal(await send(redis, sha, now + MINUTE, 'tenant-a', [...fresh, ...plain, ...more]), 'd'.repeat(150), 'all of them are duplicates a minute later')
  t.equal(await send(redis, sha, now + MINUTE, 'tenant-a', [{ token: `older-${bucket - 3}`, idTime: 0 }]), 'd', 'an id of the oldest set still counts')
})

t.test('ingest sends the ids\' times: a fresh UUIDv7 costs one or two lookups, another id four', async (t) => {
  const { redis } = await privateRedis(t)
  const log = createEventLog(redis, { shards: 1, sessionTimeoutMs: 1_800_000, dedupWindowSeconds: 3600, sessionStateTtlSeconds: 86_400, rateLimitPerSecond: 0, backlogCap: 0 })
  await redis.set(SINCE_KEY, Date.now() - 3 * HOUR)
  const bucket = Math.floor(Date.now() / bucketMs(3600))
  const tenant = '00000000-0000-7000-8000-000000000001'
  for (let b = bucket - 3; b <= bucket; b++) await redis.sadd(`tributary:dedup:{0}:${tenant}:${b}`, `older-${b}`)
  const events = (id: () => string) => Array.from({ length: 20 }, () => ({ event: { eventId: id(), type: 'pageview', occurredAt: Date.now(), anonymousId: 'a', page: '/' }, json: '{}' }))
  await redis.config('RESETSTAT')
  t.match(await log.appendEvents(tenant, 'key-a', events(() => uuidv7()), Date.now()), { outcome: 'ok' })
  // Two in the first 2 minutes of a set's 20, when a fresh id may still be in the one before.
  t.ok((await smismemberCalls(redis)) <= 2, 'UUIDv7s: at most two lookups')
  let n = 0
  await redis.config('RESETSTAT')
  t.match(await log.appendEvents(tenant, 'key-a', events(() => `order-${n++}`), Date.now()), { outcome: 'ok' })
  t.equal(await smismemberCalls(redis), 4, 'other ids: four')
})

t.test('an id that arrives before its own time is kept in the ahead set of its bucket too, no longer than any id', async (t) => {
  const { redis, sha } = await loaded(t)
  const now = futureBucketStart() + 10 * MINUTE
  await redis.set(SINCE_KEY, now - 3 * HOUR)
  const farAhead = now + 10 * 365 * 24 * HOUR
  const id = uuidv7At(farAhead, 1)
  t.equal(await send(redis, sha, now, 'tenant-a', [{ token: id, idTime: farAhead }, { token: uuidv7At(now, 2), idTime: now }], 3600, 'each'), 'aa')
  const bucket = Math.floor(now / bucketMs(3600))
  t.same(await redis.smembers(`tributary:dedup-ahead:{0}:tenant-a:${bucket}`), [id], 'only the id from ahead')
  t.ok(await redis.sismember(`tributary:dedup:{0}:tenant-a:${bucket}`, id), 'and in the set of its bucket')
  // Sent as a range, the script sees only that the latest id is ahead: the whole request
  // goes in the ahead set, which costs memory, never an answer (its ids are all in the set
  // of their bucket as well).
  const other = uuidv7At(farAhead + 1, 3)
  const beside = uuidv7At(now, 4)
  t.equal(await send(redis, sha, now, 'tenant-b', [{ token: other, idTime: farAhead + 1 }, { token: beside, idTime: now }]), 'aa')
  t.same((await redis.smembers(`tributary:dedup-ahead:{0}:tenant-b:${bucket}`)).sort(), [other, beside].sort(), 'as a range: both ids')
  t.equal(await send(redis, sha, now + MINUTE, 'tenant-b', [{ token: beside, idTime: now }, { token: other, idTime: farAhead + 1 }]), 'dd', 'both are duplicates later')
  for (const key of await redis.keys('tributary:dedup*:{0}:tenant-a:*')) {
    const expiresAt = Number(await redis.call('EXPIRETIME', key)) * 1000
    t.ok(expiresAt >= now + HOUR && expiresAt <= (bucket + 1) * bucketMs(3600) + HOUR + MINUTE, `${key} expires a window after its bucket, and a minute`)
  }
})

t.test('ids kept by the version before id times are still duplicates, from ahead too while the upgrade is recent', async (t) => {
  const { redis, sha } = await loaded(t)
  const at = futureBucketStart() + 15 * MINUTE
  // That version kept every id in the set of its first sighting, and kept no ahead sets.
  // The upgrade began 10 minutes before the id was first seen.
  await redis.set(SINCE_KEY, at - 10 * MINUTE)
  for (const [n, offset] of [-HOUR, -1_000, 0, MINUTE, CLOCK_AHEAD, 5 * MINUTE, 30 * MINUTE].entries()) {
    const id = uuidv7At(at + offset, n)
    await redis.sadd(seenKey('tenant-a', at, 3600), id)
    for (const after of [0, 5 * MINUTE, 25 * MINUTE, 59 * MINUTE]) {
      t.equal(await send(redis, sha, at + after, 'tenant-a', [{ token: id, idTime: at + offset }]), 'd', `id time ${offset} ms from its sighting, resent ${after / MINUTE} min later`)
    }
  }
})

t.test('one call whose ids start their lookups in different sets finds every one of them', async (t) => {
  const { redis, sha } = await loaded(t)
  const now = futureBucketStart() + 10 * MINUTE
  await redis.set(SINCE_KEY, now - 3 * HOUR)
  const plain = { token: 'plain', idTime: 0 }
  const old = { token: uuidv7At(now - 50 * MINUTE, 1), idTime: now - 50 * MINUTE }
  const fresh = { token: uuidv7At(now - 1_000, 2), idTime: now - 1_000 }
  const ahead = { token: uuidv7At(now + 30 * MINUTE, 3), idTime: now + 30 * MINUTE }
  // First sightings in the current set, two sets back, the current one and the one before.
  t.equal(await send(redis, sha, now - 5 * MINUTE, 'tenant-a', [plain]), 'a')
  t.equal(await send(redis, sha, now - 45 * MINUTE, 'tenant-a', [old]), 'a')
  t.equal(await send(redis, sha, now - 1_000, 'tenant-a', [fresh]), 'a')
  t.equal(await send(redis, sha, now - 15 * MINUTE, 'tenant-a', [ahead]), 'a')
  t.equal(await send(redis, sha, now, 'tenant-a', [fresh, plain, ahead, old, { token: 'new', idTime: 0 }, { token: uuidv7At(now, 4), idTime: now }]), 'ddddaa', 'all four found in one call; the new ones accepted')
})

t.test('the first call after the upgrade marks it, and ids the previous version kept from ahead are found', async (t) => {
  const { redis, sha } = await loaded(t)
  const now = futureBucketStart() + 10 * MINUTE
  // Kept by the previous version 15 minutes ago (the set before this one), 30 minutes ahead.
  const id = uuidv7At(now + 15 * MINUTE, 1)
  await redis.sadd(seenKey('tenant-a', now - 15 * MINUTE, 3600), id)
  t.equal(await redis.get(SINCE_KEY), null)
  t.equal(await send(redis, sha, now, 'tenant-a', [{ token: id, idTime: now + 15 * MINUTE }]), 'd')
  t.equal(await redis.get(SINCE_KEY), String(now), 'marked at the first call')
})

t.test('a rollout that took just under a window: what the previous version kept last is still found', async (t) => {
  const { redis, sha } = await loaded(t)
  const since = futureBucketStart() + 5 * MINUTE
  await redis.set(SINCE_KEY, since)
  const at = since + HOUR - 1
  const id = uuidv7At(at + 30 * MINUTE, 1)
  await redis.sadd(seenKey('tenant-a', at, 3600), id)
  t.equal(await send(redis, sha, at + HOUR, 'tenant-a', [{ token: id, idTime: at + 30 * MINUTE }]), 'd', 'a window after, 1 ms before the ids\' times are used')
})

t.test('a request of UUIDv7s far apart in time, sent as one range, finds each of them again, alone or together', async (t) => {
  const { redis, sha } = await loaded(t)
  const now = futureBucketStart() + MINUTE // in the first CLOCK_AHEAD of a bucket
  await redis.set(SINCE_KEY, now - 3 * HOUR)
  const offsets = [-50 * MINUTE, -25 * MINUTE, -CLOCK_AHEAD - 1, -1_000, 0, CLOCK_AHEAD + 1, 30 * MINUTE]
  const sent = offsets.map((offset, n) => ({ token: uuidv7At(now + offset, n), idTime: now + offset }))
  t.same(idTimesMeta(sent.map((e) => e.idTime)), { e: now - 50 * MINUTE, l: now + 30 * MINUTE }, 'ingest sends them as a range')
  // The earliest was first seen 40 minutes ago, in the set of an older bucket: the range's
  // lookups must start early enough to find it.
  t.equal(await send(redis, sha, now - 40 * MINUTE, 'tenant-a', [sent[0]!]), 'a')
  t.equal(await send(redis, sha, now, 'tenant-a', sent), 'd' + 'a'.repeat(sent.length - 1), 'the one seen before is a duplicate, the others new')
  for (const after of [0, 1_000, 10 * MINUTE, 20 * MINUTE, 40 * MINUTE, HOUR - 1_000]) {
    // The earliest's window ends an hour after its first sighting, 20 minutes from now.
    const within = after + 40 * MINUTE <= HOUR ? sent : sent.slice(1)
    for (const event of within) {
      t.equal(await send(redis, sha, now + after, 'tenant-a', [event]), 'd', `id ${event.idTime - now} ms from the request, alone ${after / 1000} s later`)
    }
    t.equal(await send(redis, sha, now + after, 'tenant-a', within), 'd'.repeat(within.length), `all together ${after / 1000} s later`)
  }
})

t.test('ingest sends id times as a range only when every id is a UUIDv7', async (t) => {
  t.equal(idTimesMeta([0, 0]), 0, 'none')
  t.same(idTimesMeta([5, 0, 3]), [5, 0, 3], 'some: one each')
  t.same(idTimesMeta([5, 9, 3]), { e: 3, l: 9 }, 'all: their range')
})
