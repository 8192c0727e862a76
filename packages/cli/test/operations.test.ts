import t from 'tap'
import { cli } from './fixtures/run-cli.ts'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { freePort, testRedis } from '@tributary/servers'
import { CONSUMER_GROUP, deadLetterKey, streamKey } from '@tributary/shared'

t.test('status, dlq list, dlq replay and sync against a real stack', async (t) => {
  const { url: databaseUrl, db, sql } = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '2' }

  const empty = await cli(env, 'status')
  t.equal(empty.code, 0, empty.stderr)
  t.match(empty.stdout, /shard\s+length\s+undelivered\s+pending\s+oldest pending\s+dead letters/)
  t.match(empty.stdout, /workers seen: none yet/)
  t.match(empty.stdout, /last sync: never/)
  const latest = (await sql`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n as number
  t.ok(latest > 10)
  t.match(empty.stdout, /\nschema: up to date at 00\d\d_\w+\n/)
  t.match(empty.stdout, /\nredis: maxmemory-policy noeviction\n/)

  // A database one migration behind: the status names it.
  await sql`delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`
  const behind = await cli(env, 'status')
  t.equal(behind.code, 1, 'pending migrations need an operator: exit 1')
  t.match(behind.stdout, /\nschema: at 00\d\d_\w+; 1 pending \(00\d\d_\w+\): run `pnpm db:migrate`\n/)
  const behindJson = JSON.parse((await cli(env, 'status', '--json')).stdout)
  t.equal(behindJson.schema.applied.length, latest - 1)
  t.equal(behindJson.schema.pending.length, 1)

  // Shard 1: two entries, one delivered to worker w9 and not acknowledged.
  const stream = streamKey(1)
  await redis.xadd(stream, '*', 'v', '1', 'k', 'ev')
  await redis.xadd(stream, '*', 'v', '1', 'k', 'ev')
  await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  await redis.xreadgroup('GROUP', CONSUMER_GROUP, 'w9', 'COUNT', 1, 'STREAMS', stream, '>')
  const busy = JSON.parse((await cli(env, 'status', '--json')).stdout)
  t.match(busy.streams[1], { shard: 1, length: 2, undelivered: 1, pending: 1, deadLetters: 0 })
  t.match(busy.consumers, [{ name: 'w9', pending: 1 }])

  // A dead letter on shard 1.
  const original = ['v', '1', 'k', 'ev', 't', 'tenant', 'r', '0', 'e', '{}', 's', 's', 'u', 'u']
  await redis.xadd(deadLetterKey(1), '*', 'stream', stream, 'id', '1-1', 'code', '22P05', 'error', 'unsupported Unicode escape sequence', 'failedAt', new Date().toISOString(), 'fields', JSON.stringify(original))
  const listed = await cli(env, 'dlq', 'list', '--json')
  t.match(JSON.parse(listed.stdout), [{ shard: 1, stream, id: '1-1', code: '22P05' }])
  t.match((await cli(env, 'dlq', 'list')).stdout, /22P05/)
  // --limit belongs to dlq list: given to replay it would have replayed every dead letter.
  const limited = await cli(env, 'dlq', 'replay', '--limit', '1')
  t.equal(limited.code, 2)
  t.match(limited.stderr, /--limit is for dlq list/)
  t.equal(await redis.xlen(deadLetterKey(1)), 1, 'nothing replayed')

  const replay = await cli(env, 'dlq', 'replay', '--json')
  t.same(JSON.parse(replay.stdout), { replayed: 1, skipped: [] })
  t.equal(await redis.xlen(deadLetterKey(1)), 0, 'gone from the dead-letter stream')
  const last = await redis.xrevrange(stream, '+', '-', 'COUNT', 1)
  t.same(last[0]![1], original, 'back in its stream, whole')
  t.same(JSON.parse((await cli(env, 'dlq', 'replay', '--json')).stdout), { replayed: 0, skipped: [] }, 'replaying again does nothing')

  const sync = await cli(env, 'sync', '--json')
  t.equal(sync.code, 0, sync.stderr)
  t.match(JSON.parse(sync.stdout), { syncedDays: 0, sessionsClosed: 0, durationMs: Number })
  const synced = (await cli(env, 'status')).stdout
  t.match(synced, /last sync: \d+ (ms|s) ago, 0 days synced/)
  t.match(synced, /top pages and events: every past day built/)

  // A past day whose top pages and events are not built (what migration 0011 leaves), and a day not past yet, which does not count.
  const tenant = await createTenant(db, 'status')
  await sql`insert into platform_metrics (tenant_id, date, events, page_views) values (${tenant.tenantId}, '2026-01-05', 1234567, 0), (${tenant.tenantId}, current_date + 1, 9, 0)`
  t.match((await cli(env, 'status')).stdout, /top pages and events: 1 past days \(1,234,567 events\) read from their stored rows/)
  t.same(JSON.parse((await cli(env, 'status', '--json')).stdout).unbuiltTopListDays, { days: 1, events: 1234567 })

  const bad = await cli(env, 'dlq', 'list', '--shard', 'x')
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--shard is a shard number/)
  const missing = await cli(env, 'dlq', 'replay', '--id', '9-9')
  t.equal(missing.code, 2)
  t.match(missing.stderr, /no dead letter with id 9-9/)
})

t.test('status on a database behind this build shows what it can, says why the rest is missing, and exits 1', async (t) => {
  const { url: databaseUrl, sql } = await testDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, STREAM_SHARDS: '1' }
  // As migration 0011 left it undone: its journal row and the column it added gone.
  await sql`delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`
  await sql`alter table platform_metrics drop column named_events`
  const behind = await cli(env, 'status')
  t.equal(behind.code, 1, behind.stderr)
  t.equal(behind.stderr, '', 'no stack trace')
  t.match(behind.stdout, /shard\s+length/, 'the streams are shown')
  t.match(behind.stdout, /\nschema: at 00\d\d_\w+; 1 pending/)
  t.match(behind.stdout, /\ntop pages and events: could not be read \(.*named_events.*\); run `pnpm db:migrate` first\n/)
  t.match(behind.stdout, /\nlast sync: never\n/)
  const json = JSON.parse((await cli(env, 'status', '--json')).stdout)
  t.equal(json.healthy, false)
  t.match(json.unreadable, { unbuiltTopListDays: /named_events/ })
  t.equal(json.unbuiltTopListDays, null)
})

t.test('an unreachable server is one line on stderr and exit 1, not a stack trace', async (t) => {
  const { url: databaseUrl } = await testDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const closed = await freePort()
  const noRedis = await cli({ DATABASE_URL: databaseUrl, REDIS_URL: `redis://127.0.0.1:${closed}` }, 'status')
  t.equal(noRedis.code, 1)
  t.match(noRedis.stderr, /^tributary: Redis did not answer \(.*ECONNREFUSED.*\)\n$/)
  const noPostgres = await cli({ DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/x`, REDIS_URL: redisUrl }, 'tenant', 'list')
  t.equal(noPostgres.code, 1)
  t.match(noPostgres.stderr, /^tributary: .*ECONNREFUSED.*\n$/)
  t.notMatch(noPostgres.stderr + noRedis.stderr, /\n\s+at /, 'no stack frames')
})

t.test('sync and recompute behind a run in progress elsewhere say they are waiting for it, then finish', async (t) => {
  const { url: databaseUrl, db, sql } = await testDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }
  await createTenant(db, 'waiting')
  // sync with --json: the remark on stderr, stdout one JSON document; recompute in lines: the remark before the result.
  for (const args of [['sync', '--json'], ['recompute', 'waiting', '--from', '2026-11-01', '--to', '2026-11-02']]) {
    // Another run holds the lock (as a worker's periodic run or a recompute would) until we let go.
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const holder = sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`
      await released
    })
    const run = cli(env, ...args)
    // The CLI's connection waiting on the advisory lock: it tried, found the lock taken, and now waits.
    let seen = false
    for (let i = 0; i < 600 && !seen; i++) {
      const [waiting] = await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`
      seen = waiting!.n > 0
      if (!seen) await new Promise((r) => setTimeout(r, 50))
    }
    t.ok(seen, `${args[0]}: its connection waited on the lock`)
    release()
    await holder
    const result = await run
    t.equal(result.code, 0, `${args[0]}: ${result.stderr}`)
    const waiting = /another cleanup-and-sync is running .*: waiting for it to finish…\n/
    if (args[0] === 'sync') {
      t.match(result.stderr, waiting, 'sync: says what it waits for')
      t.match(JSON.parse(result.stdout), { syncedDays: 0, durationMs: Number }, 'sync: then finishes')
    } else {
      t.match(result.stdout, new RegExp(`${waiting.source}recomputed 2 days`), 'recompute: says what it waits for, then finishes')
    }
  }
})
