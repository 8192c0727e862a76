import t from 'tap'
import { cli as run } from './fixtures/run-cli.ts'
import { testDatabase } from '@tributary/db/testing'
import { createKeyVerifier } from '@tributary/db'

const cli = (databaseUrl: string, ...args: string[]) => run({ DATABASE_URL: databaseUrl }, ...args)

t.test('tenant create --json prints {tenantId, writeKey, readKey} that verify', async (t) => {
  const { url, db } = await testDatabase(t)
  const result = await cli(url, 'tenant', 'create', 'acme', '--json')
  t.equal(result.code, 0, result.stderr)
  const created = JSON.parse(result.stdout) as Record<string, string>
  t.same(Object.keys(created).sort(), ['readKey', 'tenantId', 'writeKey'])
  const keys = createKeyVerifier(db)
  t.match(await keys.verify(created.writeKey, 'write'), { ok: true, tenantId: created.tenantId })
  t.match(await keys.verify(created.readKey, 'read'), { ok: true, tenantId: created.tenantId })

  const again = await cli(url, 'tenant', 'create', 'acme')
  t.equal(again.code, 1)
  t.match(again.stderr, /already exists/)

  const list = await cli(url, 'tenant', 'list', '--json')
  t.match(JSON.parse(list.stdout), [{ name: 'acme', tenantId: created.tenantId, timezone: 'UTC' }])
})

t.test('keys rotate and revoke, by tenant name and key prefix', async (t) => {
  const { url, db } = await testDatabase(t)
  const created = JSON.parse((await cli(url, 'tenant', 'create', 'shop', '--timezone', 'America/New_York', '--json')).stdout) as Record<string, string>
  const rotated = await cli(url, 'keys', 'rotate', 'shop', '--kind', 'read', '--json')
  t.equal(rotated.code, 0, rotated.stderr)
  const { key } = JSON.parse(rotated.stdout) as { key: string }
  t.match(key, /^rk_/)

  const keys = createKeyVerifier(db, { ttlMs: 0 })
  t.match(await keys.verify(key, 'read'), { ok: true, tenantId: created.tenantId, timezone: 'America/New_York' })
  const revoked = await cli(url, 'keys', 'revoke', created.readKey!.slice(0, 11))
  t.equal(revoked.code, 0, revoked.stderr)
  t.same(await keys.verify(created.readKey, 'read'), { ok: false, reason: 'revoked' })
  t.match(await keys.verify(key, 'read'), { ok: true }, 'the rotated key survives')

  const listed = await cli(url, 'keys', 'list', 'shop')
  t.match(listed.stdout, /prefix\s+kind/)
  t.equal(listed.stdout.split('\n').filter((l) => l.startsWith('rk_')).length, 2)
  t.notOk(listed.stdout.includes(key), 'listing never shows a whole key')

  // The prefix as keys list shows it, "…" and all, revokes; so does a whole key pasted in, never printed back.
  const shown = listed.stdout.split('\n').find((l) => l.startsWith(key.slice(0, 11)))!.split(/\s+/)[0]!
  t.match(shown, /…$/)
  t.equal((await cli(url, 'keys', 'revoke', shown)).code, 0)
  t.same(await keys.verify(key, 'read'), { ok: false, reason: 'revoked' })
  const byKey = await cli(url, 'keys', 'revoke', created.writeKey!)
  t.equal(byKey.code, 0, byKey.stderr)
  t.same(await keys.verify(created.writeKey, 'write'), { ok: false, reason: 'revoked' })
  t.notOk(byKey.stdout.includes(created.writeKey!) || byKey.stderr.includes(created.writeKey!), 'the whole key is not printed')
  const unknown = await cli(url, 'keys', 'revoke', `${created.writeKey!.slice(0, 3)}zzzzzzzzzzzzzzzzzzzzzzzzzzzz`)
  t.equal(unknown.code, 2)
  t.notMatch(unknown.stderr, /zzzzzzzzzzzzzzzz/, 'nor an unknown one')
})

t.test('the dlq commands need only Redis: no DATABASE_URL asked of them', async (t) => {
  const { testRedis } = await import('@tributary/servers')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { url: redisUrl } = await testRedis(t)
  const noStack = mkdtempSync(join(tmpdir(), 'tributary-no-stack-'))
  t.teardown(() => rmSync(noStack, { recursive: true, force: true }))
  const listed = await run({ REDIS_URL: redisUrl, DATABASE_URL: '', TRIBUTARY_STATE_DIR: noStack }, 'dlq', 'list', '--json')
  t.equal(listed.code, 0, listed.stderr)
  t.same(JSON.parse(listed.stdout), [])
  const status = await run({ REDIS_URL: redisUrl, DATABASE_URL: '', TRIBUTARY_STATE_DIR: noStack }, 'status')
  t.equal(status.code, 2, 'status still needs the database')
  t.match(status.stderr, /DATABASE_URL is not set/)
})

t.test('usage errors exit 2 with a message; bad input changes nothing', async (t) => {
  const { url } = await testDatabase(t)
  const cases: Array<[string[], RegExp]> = [
    [['tenant', 'create'], /needs an argument/],
    [['keys', 'rotate', 'x', '--kind', 'admin'], /--kind is write or read/],
    [['frobnicate'], /unknown command/],
    [['tenant', 'list', '--nope'], /Unknown option/],
    [['keys', 'revoke', 'wk_missing00'], /no active key/],
    [['keys', 'rotate', 'ghost'], /no tenant named/],
  ]
  for (const [args, message] of cases) {
    const result = await cli(url, ...args)
    t.equal(result.code, 2, args.join(' '))
    t.match(result.stderr, message)
  }
  const badZone = await cli(url, 'tenant', 'create', 'x', '--timezone', 'Nowhere/Land')
  t.equal(badZone.code, 1)
  t.match(badZone.stderr, /unknown timezone/)
  t.same(JSON.parse((await cli(url, 'tenant', 'list', '--json')).stdout), [], 'no tenant was created')
})
