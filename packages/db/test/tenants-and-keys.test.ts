import t from 'tap'
import { drizzle } from 'drizzle-orm/postgres-js'
import { testDatabase } from '../src/testing.ts'
import {
  apiKeys,
  createKeyVerifier,
  KeyLookupsBusyError,
  createTenant,
  displayPrefix,
  hashKey,
  InvalidTimezoneError,
  type KeyVerifierOptions,
  listKeys,
  revokeKey,
  rotateKey,
  TenantExistsError,
} from '../src/index.ts'
import * as schema from '../src/schema/index.ts'

t.test('createTenant returns a write and a read key, stored only as hashes', async (t) => {
  const { db } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme', 'Europe/Paris')
  t.match(tenant, { name: 'acme', timezone: 'Europe/Paris', writeKey: /^wk_[0-9A-Za-z]{32}$/, readKey: /^rk_[0-9A-Za-z]{32}$/ })
  const rows = await db.select().from(apiKeys)
  t.equal(rows.length, 2)
  for (const row of rows) {
    const key = row.kind === 'write' ? tenant.writeKey : tenant.readKey
    t.equal(row.hash, hashKey(key), `${row.kind} key stored as its SHA-256`)
    t.equal(row.prefix, displayPrefix(key))
    t.notOk(JSON.stringify(row).includes(key), 'the key itself is nowhere in the row')
  }
})

t.test('createTenant refuses a duplicate name and an unknown timezone', async (t) => {
  const { db } = await testDatabase(t)
  await createTenant(db, 'acme')
  await t.rejects(createTenant(db, 'acme'), TenantExistsError)
  await t.rejects(createTenant(db, 'other', 'Mars/Olympus'), InvalidTimezoneError)
})

t.test('verify: right kind, wrong kind, unknown, missing, malformed', async (t) => {
  const { db } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  const keys = createKeyVerifier(db)
  t.match(await keys.verify(tenant.writeKey, 'write'), { ok: true, tenantId: tenant.tenantId, kind: 'write', timezone: 'UTC' })
  t.match(await keys.verify(tenant.readKey, 'read'), { ok: true, tenantId: tenant.tenantId, kind: 'read' })
  t.same(await keys.verify(tenant.writeKey, 'read'), { ok: false, reason: 'wrong_kind' })
  t.same(await keys.verify(tenant.readKey, 'write'), { ok: false, reason: 'wrong_kind' })
  t.same(await keys.verify(undefined, 'write'), { ok: false, reason: 'missing' })
  t.same(await keys.verify('', 'write'), { ok: false, reason: 'missing' })
  t.same(await keys.verify('not-a-key', 'write'), { ok: false, reason: 'unknown' })
  t.same(await keys.verify('wk_' + 'x'.repeat(500), 'write'), { ok: false, reason: 'unknown' })
  // Same display prefix, different secret: found by prefix, refused by the hash compare.
  const forged = tenant.writeKey.slice(0, 11) + 'A'.repeat(tenant.writeKey.length - 11)
  t.same(await keys.verify(forged, 'write'), { ok: false, reason: 'unknown' })
})

t.test('two tenants never see each other through their keys', async (t) => {
  const { db } = await testDatabase(t)
  const a = await createTenant(db, 'a')
  const b = await createTenant(db, 'b')
  const keys = createKeyVerifier(db)
  t.match(await keys.verify(a.writeKey, 'write'), { tenantId: a.tenantId })
  t.match(await keys.verify(b.writeKey, 'write'), { tenantId: b.tenantId })
  t.not(a.tenantId, b.tenantId)
})

t.test('revocation is honoured once the cache entry expires, and at once after clear()', async (t) => {
  const { db } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  let now = 1_000_000
  const keys = createKeyVerifier(db, { ttlMs: 5_000, now: () => now })
  t.match(await keys.verify(tenant.writeKey, 'write'), { ok: true })

  t.equal(await revokeKey(db, displayPrefix(tenant.writeKey)), 1)
  t.equal(await revokeKey(db, displayPrefix(tenant.writeKey)), 0, 'revoking twice revokes nothing more')
  t.match(await keys.verify(tenant.writeKey, 'write'), { ok: true }, 'cached for up to the TTL')
  now += 5_001
  t.same(await keys.verify(tenant.writeKey, 'write'), { ok: false, reason: 'revoked' }, 'refused after the TTL')

  const fresh = createKeyVerifier(db)
  t.same(await fresh.verify(tenant.writeKey, 'write'), { ok: false, reason: 'revoked' })
  t.match(await fresh.verify(tenant.readKey, 'read'), { ok: true }, 'the other key still works')
  await revokeKey(db, displayPrefix(tenant.readKey))
  fresh.clear()
  t.same(await fresh.verify(tenant.readKey, 'read'), { ok: false, reason: 'revoked' })
})

t.test('rotation issues a new key while the old one keeps working until revoked', async (t) => {
  const { db } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  const rotated = await rotateKey(db, tenant.tenantId, 'write')
  const keys = createKeyVerifier(db, { ttlMs: 0 })
  t.match(await keys.verify(rotated.key, 'write'), { ok: true, tenantId: tenant.tenantId })
  t.match(await keys.verify(tenant.writeKey, 'write'), { ok: true })
  await revokeKey(db, displayPrefix(tenant.writeKey))
  t.same(await keys.verify(tenant.writeKey, 'write'), { ok: false, reason: 'revoked' })
  t.match(await keys.verify(rotated.key, 'write'), { ok: true })
  const listed = await listKeys(db, tenant.tenantId)
  t.equal(listed.length, 3)
  t.equal(listed.filter((k) => k.revokedAt !== null).length, 1)
})

/** A key verifier over a Drizzle handle that counts the queries it sends (`queries.n`). */
function countingVerifier(sql: Awaited<ReturnType<typeof testDatabase>>['sql'], options: KeyVerifierOptions) {
  const queries = { n: 0 }
  const counted = drizzle({ client: sql, schema, casing: 'snake_case', logger: { logQuery: () => void queries.n++ } })
  return { keys: createKeyVerifier(counted, options), queries }
}

t.test('the cache is bounded and one key is looked up once under concurrency', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  const { keys, queries } = countingVerifier(sql, { maxEntries: 3 })
  for (let i = 0; i < 10; i++) await keys.verify(`wk_unknown${i}`.padEnd(35, 'x'), 'write')
  t.equal(keys.size, 3, 'unknown keys cannot grow the cache past its bound')
  t.equal(queries.n, 10)

  queries.n = 0
  const results = await Promise.all(Array.from({ length: 50 }, () => keys.verify(tenant.writeKey, 'write')))
  t.ok(results.every((r) => r.ok), 'all 50 verified')
  t.equal(queries.n, 1, 'fifty concurrent checks of one key cost one query')
  await keys.verify(tenant.writeKey, 'write')
  t.equal(queries.n, 1, 'and the next one is served from the cache')
})

t.test('a stream of unknown keys cannot push a real key out of the cache', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  const { keys, queries } = countingVerifier(sql, { maxEntries: 3 })
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok)
  for (let i = 0; i < 10; i++) await keys.verify(`wk_unknown${i}`.padEnd(35, 'x'), 'write')
  t.equal(queries.n, 11)
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok)
  t.equal(queries.n, 11, 'the real key is still cached: no query for it')
  t.equal(keys.size, 4, 'one real key and the 3 latest unknown ones')
})

t.test('lookups in Postgres are bounded: a burst of unknown keys beyond the line is refused at once, and a key seen before keeps its last answer', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  let now = 1_000_000
  const { keys, queries } = countingVerifier(sql, { maxConcurrentLookups: 2, maxQueuedLookups: 10, ttlMs: 1_000, now: () => now })
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok)
  now += 5_000 // its cache entry has expired
  queries.n = 0

  const burst = Array.from({ length: 100 }, (_, i) => keys.verify(`wk_burst${i}`.padEnd(35, 'x'), 'write'))
  const seenBefore = keys.verify(tenant.writeKey, 'write')
  const results = await Promise.allSettled(burst)
  const answered = results.filter((r) => r.status === 'fulfilled')
  const refused = results.filter((r) => r.status === 'rejected')
  t.equal(answered.length, 12, '2 looked up at once and 10 in line')
  t.ok(answered.every((r) => r.status === 'fulfilled' && !r.value.ok && r.value.reason === 'unknown'))
  t.equal(refused.length, 88, 'the rest refused without a query')
  t.ok(refused.every((r) => r.status === 'rejected' && r.reason instanceof KeyLookupsBusyError))
  t.equal(queries.n, 12)
  t.match(await seenBefore, { ok: true, tenantId: tenant.tenantId }, 'the key seen before is answered from its expired entry, not refused')

  t.ok((await keys.verify(tenant.writeKey, 'write')).ok, 'once the burst has passed, lookups go on')
  t.equal(queries.n, 13)
})

t.test('while every lookup slot is busy, a key seen lately keeps its answer at once instead of waiting in line, for up to 10 cache lifetimes', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'acme')
  let now = 1_000_000
  const { keys, queries } = countingVerifier(sql, { maxConcurrentLookups: 2, maxQueuedLookups: 10, ttlMs: 1_000, now: () => now })
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok)
  queries.n = 0

  now += 5_000 // expired 4 lifetimes ago
  const busy = Array.from({ length: 3 }, (_, i) => keys.verify(`wk_busy${i}`.padEnd(35, 'x'), 'write')) // 2 running, 1 in line
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok, 'answered from its entry')
  await Promise.all(busy)
  t.equal(queries.n, 3, 'without a lookup of its own')

  now += 10_000 // 14 lifetimes: too old to stand in for a lookup
  const busyAgain = Array.from({ length: 3 }, (_, i) => keys.verify(`wk_busier${i}`.padEnd(35, 'x'), 'write'))
  t.ok((await keys.verify(tenant.writeKey, 'write')).ok)
  await Promise.all(busyAgain)
  t.equal(queries.n, 7, 'it waited in line and was looked up')
})
