import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { emptyDatabase } from '@tributary/servers'
import { MIGRATIONS_FOLDER } from '../src/index.ts'

const CLI = fileURLToPath(new URL('../src/migrate-cli.ts', import.meta.url))

/** `pnpm db:migrate <args>` as a real process. */
function migrateCli(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

const tags = (JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }).entries.map((e) => e.tag)

t.test('db:migrate --status lists what is pending and changes nothing; db:migrate says what it applied', async (t) => {
  const { url, sql } = await emptyDatabase(t)
  const env = { DATABASE_URL: url }
  const status = await migrateCli(env, '--status')
  t.equal(status.code, 0, status.stderr)
  t.same(status.stdout.trim().split('\n').slice(0, tags.length), tags.map((tag) => `pending  ${tag}`))
  t.match(status.stdout, new RegExp(`${tags.length} pending: run \`pnpm db:migrate\``))
  t.same((await sql`select to_regnamespace('drizzle') as s`)[0]!.s, null, 'nothing was made')

  const run = await migrateCli(env)
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, `applied ${tags.join(', ')} in `)
  t.match(run.stdout, `the database is at ${tags.at(-1)}`)
  const again = await migrateCli(env)
  t.match(again.stdout, `nothing to apply: the database is at ${tags.at(-1)}`)
  const after = await migrateCli(env, '--status')
  t.same(after.stdout.trim().split('\n'), [...tags.map((tag) => `applied  ${tag}`), `up to date at ${tags.at(-1)}`])

  // An older version's code (its journal stops earlier) run against this database.
  const folder = mkdtempSync(join(tmpdir(), 'tributary-migrations-'))
  t.teardown(() => rmSync(folder, { recursive: true, force: true }))
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true })
  const journalPath = join(folder, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: unknown[] }
  journal.entries = journal.entries.slice(0, 2)
  writeFileSync(journalPath, JSON.stringify(journal))
  const old = await migrateCli({ ...env, MIGRATIONS_DIR: folder }, '--status')
  t.equal(old.code, 0)
  t.match(old.stderr, `warning: the database records ${tags.length - 2} migrations newer than this code's latest (${tags[1]})`)
})

t.test('db:migrate refuses an unknown argument, and a missing DATABASE_URL, with exit 2', async (t) => {
  const bad = await migrateCli({ DATABASE_URL: 'postgres://127.0.0.1:1/none' }, '--to', '0010')
  t.equal(bad.code, 2)
  t.match(bad.stderr, /unknown arguments: --to 0010\nusage: pnpm db:migrate \[--status\]/)
  const none = await migrateCli({ DATABASE_URL: '' }, '--status')
  t.equal(none.code, 2)
  t.match(none.stderr, /DATABASE_URL is not set/)
})

t.test('db:migrate against a database it cannot reach: one line and exit 1, not a stack trace', async (t) => {
  const { freePort } = await import('@tributary/servers')
  const url = `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`
  for (const args of [[], ['--status']]) {
    const result = await migrateCli({ DATABASE_URL: url }, ...args)
    t.equal(result.code, 1, args.join(' '))
    t.match(result.stderr, /^db:migrate: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/, args.join(' '))
  }
})
