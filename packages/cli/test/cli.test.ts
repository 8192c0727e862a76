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
