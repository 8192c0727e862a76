import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import postgres from 'postgres'
import { emptyDatabase } from '@tributary/servers'
import { USERS_PER_BITMAP } from '@tributary/shared'
import { cleanupAndSync, createDatabase, createTenant, historical, markDaysForRecompute, MIGRATIONS_FOLDER, readSnapshot, runMigrations, topEvents, topPages } from '../src/index.ts'
import { testDatabase } from '../src/testing.ts'

type Sql = Awaited<ReturnType<typeof testDatabase>>['sql']
type Db = Awaited<ReturnType<typeof testDatabase>>['db']

/** The five tables the read API reads, each with a row or more of `tenantId` (as the worker and the sync write them). */
async function seed(sql: Sql, tenantId: string, rows: number) {
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, occurred_at, received_at)
    select ${tenantId}, 'e' || n, 'u' || n, 'pageview', '/p', '2026-11-02 12:00Z', now() from generate_series(1, ${rows}) n`
  await sql`insert into platform_metrics (tenant_id, date, events, page_views) values (${tenantId}, '2026-11-01', ${rows}, ${rows})`
  await sql`insert into daily_pages (tenant_id, date, page_key, page, views) select ${tenantId}, '2026-11-01', gen_random_uuid(), '/p' || n, 1 from generate_series(1, ${rows}) n`
  await sql`insert into daily_event_names (tenant_id, date, name_key, name, type, events) select ${tenantId}, '2026-11-01', gen_random_uuid(), 'n' || n, 'action', 1 from generate_series(1, ${rows}) n`
  await sql`insert into daily_user_bitmaps (tenant_id, date, chunk, users) select ${tenantId}, '2026-11-01', n, B'1'::bit(${sql.unsafe(String(USERS_PER_BITMAP))}) from generate_series(1, ${rows}) n`
}

const READ_TABLES = ['user_activities', 'platform_metrics', 'daily_pages', 'daily_event_names', 'daily_user_bitmaps']

/** Every row of `table` a read of `tenantId` sees through a query that forgot its tenant filter, by tenant. */
async function unfiltered(db: Db, tenantId: string, table: string): Promise<Record<string, number>> {
  const rows = await readSnapshot(db, tenantId, (tx) => tx.execute<{ tenant_id: string; n: number }>(`select tenant_id, count(*)::int as n from ${table} group by tenant_id`))
  return Object.fromEntries([...rows].map((r) => [r.tenant_id, r.n]))
}

/** The SQLSTATE a promise rejects with. */
async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work
    return undefined
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string } }
    return e.cause?.code ?? e.code
  }
}

/** The reader role migration 0012 made for this database. */
async function readerOf(sql: Sql): Promise<string> {
  return (await sql`select name from reader_role`)[0]!.name as string
}

t.test('a dashboard read that forgets its tenant filter sees only its own tenant rows, in every table the read API reads (F21)', async (t) => {
  const { db, sql } = await testDatabase(t)
  const a = await createTenant(db, 'a')
  const b = await createTenant(db, 'b')
  await seed(sql, a.tenantId, 3)
  await seed(sql, b.tenantId, 2)
  for (const table of READ_TABLES) {
    // What a query with the filter sees, as the owner: each tenant has rows in each table.
    const own = async (tenantId: string) => (await sql.unsafe(`select count(*)::int as n from ${table} where tenant_id = $1`, [tenantId]))[0]!.n as number
    const [ofA, ofB] = [await own(a.tenantId), await own(b.tenantId)]
    t.ok(ofA > 0 && ofB > 0, `${table}: both tenants have rows (${ofA}, ${ofB})`)
    t.same(await unfiltered(db, a.tenantId, table), { [a.tenantId]: ofA }, `${table}: read as tenant a, only a's rows`)
    t.same(await unfiltered(db, b.tenantId, table), { [b.tenantId]: ofB }, `${table}: read as tenant b, only b's rows`)
  }
  // The tables' owner (workers, sync, migrations) is not subject to the policies.
  t.same((await sql`select count(*)::int as n from user_activities`)[0]!.n, 5, 'the owner still sees every row')
})

t.test('a read may not touch the tables the read API does not read, and the reader role may not write', async (t) => {
  const { db, sql } = await testDatabase(t)
  const a = await createTenant(db, 'a')
  for (const table of ['tenants', 'api_keys', 'user_sessions', 'tenant_users', 'activity_deltas', 'metrics_dirty_days', 'reader_role']) {
    t.equal(await codeOf(readSnapshot(db, a.tenantId, (tx) => tx.execute(`select 1 from ${table} limit 1`))), '42501', `${table}: permission denied`)
  }
  // readSnapshot's transactions are read-only besides; this is the role itself, in a read-write one.
  const reader = await readerOf(sql)
  const write = sql.begin(async (tx) => {
    await tx.unsafe(`set local role ${reader}`)
    await tx`select set_config('tributary.tenant_id', ${a.tenantId}, true)`
    await tx`insert into user_activities (tenant_id, event_id, user_key, type, occurred_at, received_at) values (${a.tenantId}, 'w', 'u', 'action', now(), now())`
  })
  t.equal(await codeOf(write), '42501', 'the reader role may not insert, even its own tenant\'s rows')
})

t.test('as the reader role without a tenant named, a read fails instead of seeing every tenant', async (t) => {
  const { db, sql } = await testDatabase(t)
  const a = await createTenant(db, 'a')
  await seed(sql, a.tenantId, 1)
  const reserved = await sql.reserve()
  t.teardown(() => reserved.release())
  // Never set in this session: current_setting() raises.
  const reader = await readerOf(sql)
  await reserved`begin`
  await reserved.unsafe(`set local role ${reader}`)
  t.equal(await codeOf(reserved`select count(*) from user_activities`), '42704', 'unset setting: an error, not the rows')
  await reserved`rollback`
  // Set earlier in the session and reset at commit, the setting reads '' (not a uuid).
  await reserved`begin`
  await reserved`select set_config('tributary.tenant_id', ${a.tenantId}, true)`
  await reserved`commit`
  await reserved`begin`
  await reserved.unsafe(`set local role ${reader}`)
  t.equal(await codeOf(reserved`select count(*) from user_activities`), '22P02', 'an emptied setting: an error, not the rows')
  await reserved`rollback`
})

t.test('the pooled connection is its own role again after a read: the next statement (a key check, a write) is not the reader', async (t) => {
  const { url, sql } = await testDatabase(t)
  const { db, close } = createDatabase(url, { applicationName: 'tenant-reads-test', maxConnections: 1 })
  t.teardown(close)
  const a = await createTenant(db, 'a')
  await seed(sql, a.tenantId, 1)
  const owner = (await db.execute<{ u: string }>('select current_user as u'))[0]!.u
  t.equal((await readSnapshot(db, a.tenantId, (tx) => tx.execute<{ u: string }>('select current_user as u')))[0]!.u, await readerOf(sql), 'inside: the reader')
  const planner = (tx: Parameters<Parameters<typeof readSnapshot>[2]>[0]) => tx.execute<{ jit: string; mode: string }>(`select current_setting('jit') as jit, current_setting('plan_cache_mode') as mode`)
  t.same([...(await readSnapshot(db, a.tenantId, planner, { jit: 'off', plan_cache_mode: 'force_custom_plan' }))], [{ jit: 'off', mode: 'force_custom_plan' }], 'with the settings asked for (the top lists\')')
  const after = (await db.execute<{ u: string; tenant: string; mode: string }>(`select current_user as u, current_setting('tributary.tenant_id', true) as tenant, current_setting('plan_cache_mode') as mode`))[0]!
  t.same(after, { u: owner, tenant: '', mode: 'auto' }, 'after: the owner again, no tenant named, the planner as it was')
  // A failed read leaves it clean too.
  await codeOf(readSnapshot(db, a.tenantId, (tx) => tx.execute('select 1 from tenants')))
  t.equal((await db.execute<{ u: string }>('select current_user as u'))[0]!.u, owner, 'after a failed read: the owner again')
})

/**
 * A database owned by a new login role that is no superuser (the test server's user is one,
 * and every role check passes for a superuser), as in production; dropped, with its roles,
 * at teardown.
 */
async function ownedByNonSuperuser(t: Test, createRole: boolean) {
  const admin = (await emptyDatabase(t)).sql
  const owner = `tributary_owner_${randomBytes(4).toString('hex')}`
  const database = `${owner}_db`
  const reader = `tributary_read_${database}`
  await admin.unsafe(`create role ${owner} login${createRole ? ' createrole' : ''}`)
  await admin.unsafe(`create database ${database} owner ${owner}`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists ${database} with (force)`)
    await admin.unsafe(`drop role if exists ${reader}`)
    await admin.unsafe(`drop role if exists ${owner}`)
  })
  const server = new URL((await emptyDatabase(t)).url)
  server.username = owner
  server.pathname = `/${database}`
  const own = postgres(server.href, { max: 1, onnotice: () => {} })
  t.teardown(() => own.end({ timeout: 2 }))
  return { url: server.href, owner, database, reader, admin, own }
}

/**
 * Two tenants' rows, and each read of tenant a sees only a's. The owner, no superuser, is
 * not subject to the policies: it COPYs into user_activities as the worker does (Postgres
 * refuses COPY FROM where row-level security applies) and its sync reads every tenant's rows.
 */
async function assertFenced(t: Test, url: string, own: Sql) {
  const { db, close } = createDatabase(url, { applicationName: 'tenant-reads-test', maxConnections: 2 })
  t.teardown(close)
  const a = await createTenant(db, 'a')
  const b = await createTenant(db, 'b')
  await seed(own, a.tenantId, 3)
  await seed(own, b.tenantId, 2)
  const copy = await own`copy user_activities (tenant_id, event_id, user_key, type, occurred_at, received_at) from stdin`.writable()
  await new Promise<void>((resolve, reject) => {
    copy.once('error', reject)
    copy.once('finish', resolve)
    copy.end(`${b.tenantId}\tcopied\tu\taction\t2026-11-02 13:00Z\t2026-11-02 13:00Z\n`)
  })
  t.same(await own`select count(*)::int as n from user_activities where event_id = 'copied'`, [{ n: 1 }], 'the owner COPYs into user_activities')
  await markDaysForRecompute(db, a.tenantId, ['2026-11-02'])
  await markDaysForRecompute(db, b.tenantId, ['2026-11-02'])
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  t.same(await own`select events::int as n from platform_metrics where date = '2026-11-02' order by events`, [{ n: 3 }, { n: 3 }], "the owner's sync counted both tenants' rows (b: 2 + the copied one)")
  for (const table of READ_TABLES) t.same(Object.keys(await unfiltered(db, a.tenantId, table)), [a.tenantId], `${table}: only a's rows`)
  const range = { from: '2026-11-01', to: '2026-11-02' }
  t.match(await historical(db, a.tenantId, 'UTC', range), { totals: { events: 6 } }, 'historical answers (3 seeded on 11-01, 3 synced on 11-02)')
  t.same(await topPages(db, a.tenantId, 'UTC', range, 1), [{ page: '/p', views: 3 }], 'top pages answer (11-02 from the raw rows)')
  t.same(await topEvents(db, a.tenantId, 'UTC', range, 10), [{ name: 'pageview', type: 'pageview', count: 3 }], 'top events answer')
}

t.test('migrated by an owner with CREATEROLE that is no superuser: it makes its database its own reader role, switches to it, and the reads are fenced', async (t) => {
  const { url, database, reader, own } = await ownedByNonSuperuser(t, true)
  await runMigrations(url)
  t.same(await own`select rolsuper from pg_roles where rolname = current_user`, [{ rolsuper: false }], 'the migrations ran as a role that is no superuser')
  t.equal(await readerOf(own), `tributary_read_${database}`, 'the reader role is named after the database, and recorded')
  t.same(await own`select rolcanlogin from pg_roles where rolname = ${reader}`, [{ rolcanlogin: false }], 'nobody logs in as it')
  t.same(await own`select pg_has_role(current_user, ${reader}, 'MEMBER') as member`, [{ member: true }], 'the migration made the owner a member')
  await assertFenced(t, url, own)

  // Another database's reader role (this one's, made by the superuser that migrated it) is not ours to switch to.
  const other = await testDatabase(t)
  const otherReader = await readerOf(other.sql)
  t.not(otherReader, reader, 'each database has its own reader role')
  const otherUrl = new URL(other.url)
  otherUrl.username = new URL(url).username
  const intruder = postgres(otherUrl.href, { max: 1, onnotice: () => {} })
  t.teardown(() => intruder.end({ timeout: 2 }))
  t.equal(await codeOf(intruder.begin((tx) => tx.unsafe(`set local role ${otherReader}`))), '42501', "one database's app role may not read another's through its reader role")
})

t.test('migrated by an owner that may not create roles: the migration stops and says what an administrator must run; once run, it goes through', async (t) => {
  const { url, owner, reader, admin, own } = await ownedByNonSuperuser(t, false)
  const refusal = await runMigrations(url).then(
    () => undefined,
    (err: unknown) => err as { message?: string; cause?: { message?: string; hint?: string } },
  )
  const message = refusal?.cause?.message ?? refusal?.message ?? ''
  t.match(message, `the reader role "${reader}" does not exist, and "${owner}" may not create roles`, 'the error names the role and why')
  t.match(refusal?.cause?.hint ?? '', `CREATE ROLE ${reader} NOLOGIN; GRANT ${reader} TO ${owner};`, 'and the hint says what to run')
  t.same(await own`select count(*)::int as n from pg_tables where tablename = 'reader_role'`, [{ n: 0 }], 'nothing of migration 0012 was applied')

  await admin.unsafe(`create role ${reader} nologin`)
  await admin.unsafe(`grant ${reader} to ${owner}`)
  await runMigrations(url)
  t.equal(await readerOf(own), reader, 'migrated, with the role the administrator made')
  await assertFenced(t, url, own)
})

/** A copy of this build's migrations without 0012 and later: a database as the version before left it. */
function migrationsBefore0012(t: Test): string {
  const folder = mkdtempSync(join(tmpdir(), 'tributary-migrations-'))
  t.teardown(() => rmSync(folder, { recursive: true, force: true }))
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true })
  const journalPath = join(folder, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> }
  journal.entries = journal.entries.filter((e) => e.tag < '0012')
  writeFileSync(journalPath, JSON.stringify(journal))
  return folder
}

t.test('migration 0012 behind a long transaction on user_activities gives up after 10 s and applies nothing, instead of holding up every write queued behind it', async (t) => {
  const { url, sql } = await testDatabase(t, { migrate: false })
  await runMigrations(url, migrationsBefore0012(t))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let holding!: () => void
  const held = new Promise<void>((resolve) => (holding = resolve))
  // A reader's lock, as a recompute's scan holds it: the migration's ALTER needs the table to itself.
  const holder = sql.begin(async (tx) => {
    await tx`lock table user_activities in access share mode`
    holding()
    await released
  })
  await held
  const started = Date.now()
  const refusal = await runMigrations(url).then(() => undefined, (err: unknown) => err as { cause?: { code?: string } })
  const waited = Date.now() - started
  release()
  await holder
  t.equal(refusal?.cause?.code, '55P03', 'lock_not_available')
  t.ok(waited >= 9_000 && waited < 20_000, `gave up after ${waited} ms`)
  t.same(await sql`select count(*)::int as n from pg_tables where tablename = 'reader_role'`, [{ n: 0 }], 'nothing of 0012 applied')
  t.match((await runMigrations(url)).applied, ['0012_tenant_reads'], 'applied once the transaction is gone')
})

t.test('an existing database its owner migrated, upgraded by an administrator running the migration as a superuser: the owner, not the administrator, may switch to the reader role', async (t) => {
  const { url, owner, database, reader, own } = await ownedByNonSuperuser(t, false)
  // This build's migrations up to 0011, run by the owner: the tables are its own.
  await runMigrations(url, migrationsBefore0012(t))
  t.same(await own`select tableowner from pg_tables where tablename = 'user_activities'`, [{ tableowner: owner }])

  const administrator = new URL((await emptyDatabase(t)).url)
  administrator.pathname = `/${database}`
  t.match((await runMigrations(administrator.href)).applied, ['0012_tenant_reads'], 'the administrator applies 0012')
  t.same(await own`select pg_has_role(${owner}, ${reader}, 'MEMBER') as member`, [{ member: true }], 'granted to the owner')
  await assertFenced(t, url, own)
})
