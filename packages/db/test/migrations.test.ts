import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { MIGRATIONS_FOLDER, migrationState, runMigrations } from '../src/index.ts'
import { testDatabase } from '../src/testing.ts'

t.test('migrations build every table and named index from an empty database', async (t) => {
  const { url, sql } = await testDatabase(t, { migrate: false })
  const before = await sql`select count(*)::int as n from information_schema.tables where table_schema = 'public'`
  t.equal(before[0]!.n, 0, 'starts empty')

  await runMigrations(url)
  const tables = await sql<{ table_name: string }[]>`select table_name from information_schema.tables where table_schema = 'public' order by 1`
  t.same(
    tables.map((r) => r.table_name),
    ['activity_deltas', 'api_keys', 'daily_event_names', 'daily_pages', 'daily_user_bitmaps', 'metrics_dirty_days', 'metrics_syncing_days', 'platform_metrics', 'reader_role', 'sync_runs', 'tenant_users', 'tenants', 'user_activities', 'user_sessions'],
  )
  const indexes = await sql<{ indexname: string }[]>`select indexname from pg_indexes where schemaname = 'public' order by 1`
  const names = indexes.map((r) => r.indexname)
  for (const expected of [
    'user_activities_pkey',
    'user_activities_tenant_occurred_idx',
    'user_sessions_pkey',
    'user_sessions_tenant_started_idx',
    'user_sessions_active_last_seen_idx',
    'platform_metrics_pkey',
    'platform_metrics_unnamed_idx',
    'daily_pages_pkey',
    'daily_event_names_pkey',
    'api_keys_hash_key',
    'api_keys_prefix_idx',
    'tenants_name_key',
    'metrics_dirty_days_pkey',
    'metrics_syncing_days_pkey',
  ]) {
    t.ok(names.includes(expected), `index ${expected}`)
  }
  const [unique] = await sql`
    select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'user_activities_pkey'`
  t.equal(unique!.def, 'PRIMARY KEY (tenant_id, event_id)', 'events are unique per tenant')
})

t.test('running migrations twice, or concurrently, is harmless', async (t) => {
  const { url, sql } = await testDatabase(t, { migrate: false })
  await Promise.all([runMigrations(url), runMigrations(url), runMigrations(url)])
  await runMigrations(url)
  const [row] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
  t.equal(row!.n, journal.entries.length, 'each migration recorded once')
})

/** A copy of the migrations folder whose journal stops after the first `count` entries: the code of an older version. */
function olderFolder(t: { teardown(fn: () => void): void }, count: number): { folder: string; tags: string[] } {
  const folder = mkdtempSync(join(tmpdir(), 'tributary-migrations-'))
  t.teardown(() => rmSync(folder, { recursive: true, force: true }))
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true })
  const path = join(folder, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(path, 'utf8')) as { entries: Array<{ tag: string }> }
  journal.entries = journal.entries.slice(0, count)
  writeFileSync(path, JSON.stringify(journal))
  return { folder, tags: journal.entries.map((e) => e.tag) }
}

const allTags = () => (JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }).entries.map((e) => e.tag)

t.test('the migration state: what a database has and lacks, what a run applied, and a database migrated by a newer version', async (t) => {
  const { url, sql } = await testDatabase(t, { migrate: false })
  const all = allTags()
  t.ok(all.length > 3)
  t.same(await migrationState(url), { applied: [], pending: all, newer: 0 }, 'an empty database lacks every one')
  t.same((await sql`select to_regnamespace('drizzle') as s`)[0]!.s, null, 'reading the state made nothing')

  const older = olderFolder(t, 3)
  t.same((await runMigrations(url, older.folder)).applied, older.tags, 'an older version applies its three')
  t.same(await migrationState(url), { applied: older.tags, pending: all.slice(3), newer: 0 })

  const run = await runMigrations(url)
  t.same(run.applied, all.slice(3), 'this version applies the rest, in order')
  t.same(run.state, { applied: all, pending: [], newer: 0 })
  t.same((await runMigrations(url)).applied, [], 'a second run applies nothing')
  t.same(await migrationState(url, older.folder), { applied: older.tags, pending: [], newer: all.length - 3 }, 'to the older version, the database is ahead')
})
