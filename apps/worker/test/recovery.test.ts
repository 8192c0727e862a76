import { mkdtempSync, chmodSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { freePort, startPostgres } from '@tributary/servers'
import { CONSUMER_GROUP, deadLetterKey, encodeEventLines, fieldsToObject, shardFor, streamKey } from '@tributary/shared'
import { pageview, pipeline } from './fixtures/pipeline.ts'

/**
 * 40 good events, then a copy of their first entry that `spoil` has changed, then 40 more;
 * runs a worker until the 80 good events are stored and nothing is pending, and returns the
 * one dead letter (its fields as an object) with what went into the bad entry.
 */
async function oneBadEntryAmongGood(t: Test, spoil: (fields: string[]) => void) {
  const p = await pipeline(t)
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  await p.produce(Array.from({ length: 40 }, (_, i) => pageview(`ok${i}`)))
  const [first] = await p.redis.xrange(stream, '-', '+')
  const fields = [...first![1]]
  spoil(fields)
  const badId = await p.redis.xadd(stream, '*', ...fields)
  await p.produce(Array.from({ length: 40 }, (_, i) => pageview(`late${i}`)))
  const worker = await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 80 && (await p.pendingCount()) === 0, 'the 80 good events')
  const dlq = await p.redis.xrange(deadLetterKey(shardFor(p.tenant.tenantId, 2)), '-', '+')
  t.equal(dlq.length, 1, 'exactly one dead letter')
  const letter = fieldsToObject(dlq[0]![1]) as Record<string, string>
  return { p, stream, fields, badId, letter, worker }
}

t.test('a poison entry (NUL character written straight to the stream): the rest lands, one dead letter', async (t) => {
  // Bypass the API, which would refuse it: an event whose page holds U+0000.
  const { stream, fields, badId, letter, worker } = await oneBadEntryAmongGood(t, (fields) => {
    const line = JSON.stringify({ i: 'poison', y: 'pageview', ai: 'visitor', p: 'a\u0000b', o: Date.now() })
    fields[fields.indexOf('z') + 1] = encodeEventLines(Buffer.from(line)).toString('latin1')
    fields[fields.indexOf('s') + 1] = 'some-session'
    fields[fields.indexOf('u') + 1] = 'visitor'
  })
  t.match(letter, { stream, id: badId, code: /^22/ }, 'a data exception (22021 or 22P05)')
  t.same(JSON.parse(letter.fields!), fields, 'the original entry is kept whole')
  t.equal(worker.stats.deadLettered, 1)
})

t.test('an entry that decodes but cannot be made into rows (an event with no time, a session entry with no session): dead-lettered, the rest lands', async (t) => {
  const noTime = await oneBadEntryAmongGood(t, (fields) => {
    fields[fields.indexOf('z') + 1] = encodeEventLines(Buffer.from(JSON.stringify({ i: 'timeless', y: 'pageview', ai: 'visitor', p: '/' }))).toString('latin1')
  })
  t.match(noTime.letter, { stream: noTime.stream, id: noTime.badId, code: 'unwritable', error: 'the entry cannot be made into rows: Invalid time value' })
  t.equal(noTime.worker.stats.deadLettered, 1)
  // The entry replaced by a session start of the same tenant whose session (`d`) is `session`.
  const sessionStart = (session: unknown) => (fields: string[]) => {
    fields.splice(0, fields.length, 'v', '2', 'k', 'ss', 't', fields[fields.indexOf('t') + 1]!, 'r', String(Date.now()), 'u', 'visitor', 'd', JSON.stringify(session))
  }
  const noSession = await oneBadEntryAmongGood(t, sessionStart(null))
  t.match(noSession.letter, { id: noSession.badId, code: 'unwritable', error: /^the entry cannot be made into rows: / })
  // A session whose time is no time, or whose id is a number: found only when its columns are made.
  for (const d of [{ id: 's', uk: 'visitor', at: 'x' }, { id: 7, uk: 'visitor', at: Date.now() }]) {
    const badSession = await oneBadEntryAmongGood(t, sessionStart(d))
    t.match(badSession.letter, { id: badSession.badId, code: 'unwritable' }, `session ${JSON.stringify(d)}`)
  }
})

t.test('Redis loses its data under a running worker: the group is made again and what comes next is stored', async (t) => {
  const p = await pipeline(t)
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  await p.produce([pageview('before')])
  const worker = await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the first event')
  // The loss: the stream goes with its group; ingest's next XADD makes the stream again, without it.
  await p.redis.del(stream)
  await p.produce([pageview('after')])
  await p.waitFor(async () => (await p.rowCount()) === 2, 'the event sent after the loss')
  t.ok(worker.stats.groupsRecreated >= 1, `the group was made again (${worker.stats.groupsRecreated})`)
  t.equal(await p.pendingCount(), 0)
})

t.test('Redis loses its data while a starting worker resumes the entries it had pending: the group is made again and what comes next is stored', async (t) => {
  const p = await pipeline(t)
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  await p.produce([pageview('pending')])
  // Delivered to this consumer name in an earlier life, never acknowledged.
  await p.redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM')
  await p.redis.xreadgroup('GROUP', CONSUMER_GROUP, 'w1', 'COUNT', 10, 'STREAMS', stream, '>')
  // Its write waits on the tenant row (the batch takes it FOR KEY SHARE), held here until the loss has happened.
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let locked!: () => void
  const isLocked = new Promise<void>((resolve) => (locked = resolve))
  const holder = p.database.sql.begin(async (tx) => {
    await tx`select 1 from tenants where id = ${p.tenant.tenantId} for update`
    locked()
    await released
  })
  await isLocked
  const worker = await p.startWorker()
  await p.waitFor(async () => {
    const [row] = await p.database.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`
    return row!.n > 0
  }, "the resumed batch's write waiting on the tenant row")
  // The loss: the stream goes with its group; ingest's next XADD makes the stream again, without it.
  await p.redis.del(stream)
  await p.produce([pageview('after')])
  release()
  await holder
  // The resumed batch commits (its XACK finds no group: 0, no error); the next resume read gets NOGROUP.
  await p.waitFor(async () => (await p.rowCount()) === 2, 'the event sent after the loss')
  t.ok(worker.stats.groupsRecreated >= 1, `the group was made again (${worker.stats.groupsRecreated})`)
  t.equal(await p.pendingCount(), 0)
})

t.test("a deleted tenant's events: refused with the foreign-key SQLSTATE, dead-lettered; the rest lands", async (t) => {
  // The same entry, for a tenant that no longer exists (user_activities has no foreign key;
  // the worker checks the batch's tenants itself).
  const { p, stream, badId, letter, worker } = await oneBadEntryAmongGood(t, (fields) => {
    fields[fields.indexOf('t') + 1] = '00000000-0000-7000-8000-00000000dead'
  })
  t.match(letter, { stream, id: badId, code: '23503' })
  t.equal(worker.stats.deadLettered, 1)
  const [{ n }] = (await p.database.sql`select count(*)::int as n from user_activities where tenant_id <> ${p.tenant.tenantId}`) as unknown as [{ n: number }]
  t.equal(n, 0, 'no row of the missing tenant')
})

t.test('an entry that cannot be decoded is dead-lettered without touching Postgres', async (t) => {
  const p = await pipeline(t)
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  await p.redis.xadd(stream, '*', 'v', '999', 'garbage', 'yes')
  await p.produce([pageview('fine')])
  await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 1 && (await p.pendingCount()) === 0, 'the good event')
  const dlq = await p.redis.xrange(deadLetterKey(shardFor(p.tenant.tenantId, 2)), '-', '+')
  t.equal(dlq.length, 1)
  t.ok(dlq[0]![1].includes('undecodable'))
})

t.test('Postgres stopped for several seconds mid-run: no loss, nothing dead-lettered, the worker keeps running', async (t) => {
  const p = await pipeline(t)
  const dir = mkdtempSync(join(tmpdir(), 'tributary-pg-outage-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  let pg = await startPostgres({ port, dataDir: join(dir, 'pg'), fsync: false })
  t.teardown(() => pg.stop())
  await runMigrations(pg.url)
  const { db, sql, close } = createDatabase(pg.url, { applicationName: 'outage-test', maxConnections: 4 })
  t.teardown(close)
  const tenant = await createTenant(db, 'outage')

  const worker = await p.startWorker({ DATABASE_URL: pg.url, CLAIM_IDLE_MS: '60000' }, db)
  const count = async () => Number((await sql`select count(*)::int as n from user_activities`)[0]!.n)

  await p.produce(Array.from({ length: 50 }, (_, i) => pageview(`before${i}`)), tenant.tenantId)
  await p.waitFor(async () => (await count()) === 50, 'the first events')
  await pg.stop()
  for (let round = 0; round < 5; round++) await p.produce(Array.from({ length: 50 }, (_, i) => pageview(`during${round}-${i}`)), tenant.tenantId)
  await new Promise((r) => setTimeout(r, 4_000))
  t.ok(worker.stats.transientErrors > 0, `the worker saw the outage (${worker.stats.transientErrors} transient errors)`)
  pg = await startPostgres({ port, dataDir: join(dir, 'pg'), fsync: false })
  await p.waitFor(async () => (await count().catch(() => 0)) === 300 && (await p.pendingCount()) === 0, 'all 300 events after the restart', 60_000)
  t.equal(worker.stats.deadLettered, 0, 'nothing dead-lettered')
  const dlqLength = await p.redis.xlen(deadLetterKey(shardFor(tenant.tenantId, 2)))
  t.equal(dlqLength, 0)
})

t.test('one batch far larger than the parameter limit allows for row-by-row parameters', async (t) => {
  const p = await pipeline(t)
  // 12,000 events × 10 columns would be 120,000 parameters as a multi-row INSERT.
  for (let r = 0; r < 12; r++) await p.produce(Array.from({ length: 1000 }, (_, i) => pageview(`big${r}-${i}`, { metadata: { n: i } })))
  const worker = await p.startWorker({ BATCH_MAX_EVENTS: '20000', BATCH_MAX_WAIT_MS: '2000' })
  await p.waitFor(async () => (await p.rowCount()) === 12_000 && (await p.pendingCount()) === 0, '12,000 rows', 60_000)
  t.ok(worker.stats.batches <= 3, `written in ${worker.stats.batches} batch(es)`)
  t.ok((worker.stats.lastBatch?.events ?? 0) >= 1000)
})

t.test('ids that differ only in lone surrogates (written straight to the stream) are one key, as Postgres stores them: one row, one session, no batch retried for ever', async (t) => {
  // Bypass the API, which refuses lone surrogates. Postgres stores each as U+FFFD, so these
  // are one event and one session to it; kept apart, every write of the batch failed alike
  // (a unique violation; an upsert touching a row twice), and it was retried for ever.
  const p = await pipeline(t)
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  await p.produce([pageview('before')])
  const [first] = await p.redis.xrange(stream, '-', '+')
  const fields = [...first![1]]
  const now = Date.now()
  const lines = ['dup\ud800', 'dup\udfff'].map((i) => JSON.stringify({ i, y: 'pageview', ai: 'visitor', p: '/', o: now })).join('\n')
  fields[fields.indexOf('z') + 1] = encodeEventLines(Buffer.from(lines)).toString('latin1')
  await p.redis.xadd(stream, '*', ...fields)
  for (const id of ['sess\ud800', 'sess\udbff']) {
    await p.redis.xadd(stream, '*', 'v', '2', 'k', 'ss', 't', p.tenant.tenantId, 'r', String(now), 'u', 'visitor', 'd', JSON.stringify({ id, uk: 'visitor', at: now }))
  }
  await p.produce([pageview('after')])
  const worker = await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 3 && (await p.pendingCount()) === 0, 'the events stored and every entry acknowledged')
  const ids = (await p.database.sql`select event_id from user_activities order by event_id`).map((r) => r.event_id as string)
  t.same(ids, ['after', 'before', 'dup\ufffd'], 'the two ids are one row')
  const [sessions] = await p.database.sql`select count(*)::int as n from user_sessions where id = ${'sess\ufffd'}`
  t.equal(sessions!.n, 1, 'the two session ids are one session')
  t.equal(worker.stats.transientErrors, 0, 'no write failed')
  t.equal(worker.stats.deadLettered, 0, 'nothing dead-lettered: the events are good')
})

t.test('Postgres read-only (a replica behind a stale name after a failover): nothing written or dead-lettered meanwhile, everything once it takes writes', async (t) => {
  const p = await pipeline(t)
  const { sql, name } = p.database
  // Sessions opened from now on are read-only, as on a hot standby; the worker opens its own.
  await sql.unsafe(`alter database ${name} set default_transaction_read_only = on`)
  t.teardown(() => sql.unsafe(`alter database ${name} reset default_transaction_read_only`))
  const { db, close } = createDatabase(p.database.url, { applicationName: 'read-only-test', maxConnections: 3 })
  t.teardown(close)
  const worker = await p.startWorker({}, db)
  await p.produce(Array.from({ length: 50 }, (_, i) => pageview(`ro${i}`)))
  await p.waitFor(async () => worker.stats.transientErrors > 0, 'the worker meets the read-only server')
  t.equal(await p.rowCount(), 0)
  await sql.unsafe(`alter database ${name} reset default_transaction_read_only`)
  // Sessions opened before the reset would stay read-only for their whole life (30 min).
  await p.waitFor(async () => (await p.rowCount()) === 50 && (await p.pendingCount()) === 0, 'all 50 events once the server takes writes', 15_000)
  t.equal(worker.stats.deadLettered, 0, 'nothing dead-lettered')
})
