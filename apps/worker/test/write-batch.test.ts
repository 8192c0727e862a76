import t from 'tap'
import { cleanupAndSync, createTenant, markDaysForRecompute } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { decodeEventLine, encodeEventJson, normalizeNative, type DecodedEntry, type EventInput } from '@tributary/shared'
import { classify, errorCode } from '../src/persist/errors.ts'
import { writeBatch } from '../src/persist/write-batch.ts'

/** An events entry as the worker decodes it from the stream, without going through Redis. */
function entry(tenantId: string, inputs: EventInput[], receivedAt = Date.UTC(2026, 10, 26, 12)): DecodedEntry {
  const events = inputs.map((input) => {
    const n = normalizeNative(input, receivedAt, undefined)
    if (!n.ok) throw new Error(n.message)
    const userKey = n.event.userId ?? `a:${n.event.anonymousId}`
    return decodeEventLine(encodeEventJson(n.event), `session-of-${userKey}`, userKey)
  })
  return { kind: 'ev', tenantId, receivedAt, events, unpackedBytes: 0 }
}

t.test('values COPY would misread arrive exactly as sent', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'copy-text')
  const awkward = [
    { eventId: 'back\\slash', type: 'pageview', userId: 'u\\1', page: '\\N' },
    { eventId: 'e2', type: 'action', userId: 'u', action: 'a\\tb', metadata: { text: 'tab\tnewline\ncr\r back\\slash "q" \\N é 😀', list: [null, 1.5, { deep: '\\' }] } },
    { eventId: 'e3', type: 'pageview', anonymousId: 'v', page: '/p?x=1&y="2"', metadata: {} },
  ] satisfies EventInput[]
  const result = await writeBatch(db, [entry(tenant.tenantId, awkward)], 10_000)
  t.same(result, { inserted: 3, sessions: 3, path: 'copy' })
  const rows = await sql`select event_id, user_key, page, action, metadata from user_activities order by event_id`
  t.same(rows.map((r) => ({ ...r })), [
    { event_id: 'back\\slash', user_key: 'u\\1', page: '\\N', action: null, metadata: null },
    { event_id: 'e2', user_key: 'u', page: null, action: 'a\\tb', metadata: awkward[1]!.metadata },
    { event_id: 'e3', user_key: 'a:v', page: '/p?x=1&y="2"', action: null, metadata: {} },
  ])
})

t.test('a batch holding stored events is merged: only the new ones are copied', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'merge')
  const event = (i: number): EventInput => ({ eventId: `e${i}`, type: 'action', userId: `u${i % 7}`, action: 'x', metadata: { pad: 'x'.repeat(200) } })
  const first = await writeBatch(db, [entry(tenant.tenantId, Array.from({ length: 10 }, (_, i) => event(i)))], 10_000)
  t.same(first, { inserted: 10, sessions: 7, path: 'copy' })
  // 3,000 new events, then one already stored at the very end: Postgres finds the conflict
  // after the client has sent everything, which is where a COPY writable could hang.
  const again = [...Array.from({ length: 3_000 }, (_, i) => event(100 + i)), event(3)]
  const second = await writeBatch(db, [entry(tenant.tenantId, again)], 10_000)
  t.same(second, { inserted: 3_000, sessions: 7, path: 'merge' })
  const [{ n }] = (await sql`select count(*)::int as n from user_activities`) as unknown as [{ n: number }]
  t.equal(n, 3_010, 'every event once')
  const third = await writeBatch(db, [entry(tenant.tenantId, again)], 10_000)
  t.same(third, { inserted: 0, sessions: 0, path: 'merge' }, 'a whole batch delivered again adds nothing, not even to its sessions')
  const deltas = await sql`select user_key, sum(events)::int as events from activity_deltas group by 1 order by 1`
  const expected = new Map<string, number>()
  for (const i of [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 3_000 }, (_, i) => 100 + i)]) expected.set(`u${i % 7}`, (expected.get(`u${i % 7}`) ?? 0) + 1)
  t.same(deltas.map((d) => [d.user_key, d.events]), [...expected].sort(), 'the daily metrics get each stored event once: the merge adds only what it copied')
})

t.test('an event resent after the de-duplication window, with the new session id ingest gave it, makes no session', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'late-resend')
  const withSession = (e: DecodedEntry, sessionId: string): DecodedEntry => (e.kind === 'ev' ? { ...e, events: e.events.map((ev) => ({ ...ev, sessionId })) } : e)
  const first = withSession(entry(tenant.tenantId, [{ eventId: 'e1', type: 'pageview', userId: 'u', page: '/', timestamp: '2026-11-26T09:00:00Z' }]), 's-first')
  t.same(await writeBatch(db, [first], 10_000), { inserted: 1, sessions: 1, path: 'copy' })
  // Hours later the SDK sends e1 again, with e2; ingest no longer knows e1, nor u's sessions, so both get a new session.
  const late = withSession(entry(tenant.tenantId, [{ eventId: 'e1', type: 'pageview', userId: 'u', page: '/', timestamp: '2026-11-26T09:00:00Z' }, { eventId: 'e2', type: 'action', userId: 'u', action: 'x' }]), 's-late')
  const resentOnly = withSession(entry(tenant.tenantId, [{ eventId: 'e1', type: 'pageview', userId: 'u', page: '/' }]), 's-resent')
  t.same(await writeBatch(db, [late], 10_000), { inserted: 1, sessions: 1, path: 'merge' }, 'e2 makes its session')
  t.same(await writeBatch(db, [resentOnly], 10_000), { inserted: 0, sessions: 0, path: 'merge' }, 'e1 alone makes none')
  const sessions = await sql`select id from user_sessions order by id`
  t.same(sessions.map((r) => r.id), ['s-first', 's-late'], 'no session made of stored events only')
  const [late2] = await sql`select started_at, last_seen_at from user_sessions where id = 's-late'`
  t.same(late2!.started_at, late2!.last_seen_at, "s-late spans e2 alone, not e1's time")
})

t.test('a merge copies the rows it keeps byte for byte, whatever their size and characters', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'merge-bytes')
  // Rows from ~100 bytes to ~12 KB, with escapes and multi-byte characters: the COPY data
  // outgrows its first estimate, and the merge cuts it at each row's end.
  const event = (i: number): EventInput => ({
    eventId: `e${i}-é`,
    type: 'action',
    userId: `u${i % 3}`,
    action: i % 2 === 0 ? 'tab\there' : 'x',
    metadata: { i, text: '€😀 \t\n'.repeat(i % 5 === 0 ? 1_000 : 1), tab: 'a\tb\nc\\d' },
  })
  const all = Array.from({ length: 60 }, (_, i) => event(i))
  await writeBatch(db, [entry(tenant.tenantId, all.filter((_, i) => i % 4 === 1))], 10_000)
  const merged = await writeBatch(db, [entry(tenant.tenantId, all)], 10_000)
  t.same({ path: merged.path, inserted: merged.inserted }, { path: 'merge', inserted: 45 })
  const rows = await sql`select event_id, action, metadata from user_activities order by (metadata->>'i')::int`
  t.same(rows.map((r) => ({ ...r })), all.map((e) => ({ event_id: e.eventId, action: e.action, metadata: e.metadata })))
})

t.test('two writers of the same batch at once (a redelivery claimed while the first still writes) store it once', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'race')
  const events = Array.from({ length: 2_000 }, (_, i): EventInput => ({ eventId: `e${i}`, type: 'action', userId: `u${i % 5}`, action: 'x' }))
  const results = await Promise.all([writeBatch(db, [entry(tenant.tenantId, events)], 10_000), writeBatch(db, [entry(tenant.tenantId, events)], 10_000)])
  // The second COPY waits on the first one's rows, fails when it commits, and merges.
  t.same(results.map((r) => r.path).sort(), ['copy', 'merge'])
  t.same(results.map((r) => r.inserted).sort((a, b) => a - b), [0, 2_000])
  const [{ n }] = (await sql`select count(*)::int as n from user_activities`) as unknown as [{ n: number }]
  t.equal(n, 2_000, 'every event once')
  const [{ counted }] = (await sql`select sum(events)::int as counted from activity_deltas`) as unknown as [{ counted: number }]
  t.equal(counted, 2_000, 'and counted once for the daily metrics')
})

t.test('a row Postgres refuses fails the batch at once and leaves nothing behind', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'refused')
  const events = Array.from({ length: 2_000 }, (_, i): EventInput => ({ eventId: `e${i}`, type: 'action', userId: 'u', action: 'x' }))
  const batch = entry(tenant.tenantId, events)
  if (batch.kind === 'ev') batch.events[1_999]!.page = 'nul \u0000 here' // ingest refuses these; here it reaches Postgres
  const err = await writeBatch(db, [batch], 10_000).then(() => undefined, (e: unknown) => e as { code?: string })
  t.match(err?.code, /^22/, 'a data exception, which the worker isolates by bisecting')
  const [{ n }] = (await sql`select count(*)::int as n from user_activities`) as unknown as [{ n: number }]
  t.equal(n, 0)
})

t.test("each event counts towards its tenant's local day, even where midnight is not on a whole minute", async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'amsterdam-1930')
  // Amsterdam kept its local mean time until 1937: summer 1930 was UTC+01:19:32, so the
  // midnight that began 2 June fell at 22:40:28 UTC, inside the minute from 22:40.
  await sql`update tenants set timezone = 'Europe/Amsterdam' where id = ${tenant.tenantId}`
  const times = [[22, 39, 0], [22, 40, 27], [22, 40, 28], [22, 41, 0], [22, 40, 29]] as const
  const batch = entry(tenant.tenantId, times.map(([h, m, s]) => ({ eventId: `${h}:${m}:${s}`, type: m === 41 ? 'pageview' : 'action', userId: 'u', action: 'x' })))
  // Ingest clamps times to this century; the worker stores what the stream holds.
  if (batch.kind === 'ev') batch.events.forEach((e, i) => (e.occurredAt = Date.UTC(1930, 5, 1, ...times[i]!)))
  await writeBatch(db, [batch], 10_000)
  const days = await sql`select date::text as date, sum(events)::int as events, sum(page_views)::int as page_views from activity_deltas where tenant_id = ${tenant.tenantId} group by 1 order by 1`
  t.same(days.map((d) => [d.date, d.events, d.page_views]), [['1930-06-01', 2, 0], ['1930-06-02', 3, 1]])
})

t.test('where local midnight happens twice, the deltas and a rebuild from the raw rows put each event on the same day', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'havana-fall-back')
  // America/Havana fell back from 01:00 CDT to 00:00 CST on 2 November 2025: local 00:00-00:59
  // ran twice, 04:00-04:59 and 05:00-05:59 UTC. A rebuild reads "2 November 00:00" as the
  // second (05:00 UTC), so the first of them counts towards 1 November.
  await sql`update tenants set timezone = 'America/Havana' where id = ${tenant.tenantId}`
  const times = ['2025-11-02T03:30:00Z', '2025-11-02T04:30:00Z', '2025-11-02T05:30:00Z', '2025-11-02T12:00:00Z']
  const batch = entry(tenant.tenantId, times.map((_, i) => ({ eventId: `e${i}`, type: 'pageview', page: '/', userId: `u${i}` })))
  if (batch.kind === 'ev') batch.events.forEach((e, i) => (e.occurredAt = Date.parse(times[i]!)))
  await writeBatch(db, [batch], 10_000)
  const figures = async () => (await sql`select date::text as date, events::int as events, active_users from platform_metrics where tenant_id = ${tenant.tenantId} order by date`).map((r) => [r.date, r.events, r.active_users])
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  const fromDeltas = await figures()
  t.same(fromDeltas, [['2025-11-01', 2, 2], ['2025-11-02', 2, 2]])
  await markDaysForRecompute(db, tenant.tenantId, ['2025-11-01', '2025-11-02'])
  await cleanupAndSync(db, { sessionTimeoutMinutes: 30, wait: true })
  t.same(await figures(), fromDeltas, 'rebuilt whole, both days keep their figures')
})

t.test('a batch naming a tenant that does not exist is refused whole, as the foreign key did (23503, permanent)', async (t) => {
  const { db, sql } = await testDatabase(t)
  const tenant = await createTenant(db, 'live')
  const ghost = '00000000-0000-7000-8000-00000000dead'
  const err = await writeBatch(db, [entry(tenant.tenantId, [{ eventId: 'a', type: 'pageview', anonymousId: 'v' }]), entry(ghost, [{ eventId: 'b', type: 'pageview', anonymousId: 'v' }])], 10_000).catch((e: unknown) => e)
  t.equal(errorCode(err), '23503')
  t.equal(classify(err), 'permanent', 'so the worker bisects the batch and dead-letters only the ghost entry')
  t.match((err as Error).message, ghost)
  const [{ n }] = (await sql`select count(*)::int as n from user_activities`) as unknown as [{ n: number }]
  t.equal(n, 0, 'nothing of the batch is stored')
})

t.test("deleting or truncating tenants deletes their activities (the triggers that stand in for ON DELETE CASCADE), and no one else's", async (t) => {
  const { db, sql } = await testDatabase(t)
  const [a, b, c] = [await createTenant(db, 'a'), await createTenant(db, 'b'), await createTenant(db, 'c')]
  for (const tenant of [a, b, c]) {
    await writeBatch(db, [entry(tenant.tenantId, Array.from({ length: 5 }, (_, i): EventInput => ({ eventId: `e${i}`, type: 'pageview', anonymousId: 'v' })))], 10_000)
  }
  await sql`delete from tenants where id in (${a.tenantId}, ${b.tenantId})`
  const rows = await sql`select tenant_id, count(*)::int as n from user_activities group by 1`
  t.same(rows.map((r) => ({ ...r })), [{ tenant_id: c.tenantId, n: 5 }])
  // TRUNCATE fires no DELETE trigger; it has its own.
  await sql`truncate tenants cascade`
  const [{ n }] = (await sql`select count(*)::int as n from user_activities`) as unknown as [{ n: number }]
  t.equal(n, 0, 'truncating tenants empties user_activities too')
})

t.test('which SQLSTATEs a retry cannot cure', async (t) => {
  const kind = (code: string) => classify(Object.assign(new Error(code), { code }))
  t.equal(kind('21000'), 'permanent', 'an upsert meeting one row twice: retried, it fails alike for ever')
  t.equal(kind('22P05'), 'permanent')
  t.equal(kind('23503'), 'permanent')
  t.equal(kind('23505'), 'transient', 'a unique violation: a merge racing a peer, which a retry cures')
  t.equal(kind('40P01'), 'transient')
  t.equal(kind('57P01'), 'transient')
  t.equal(classify(Object.assign(new Error('wrapped'), { cause: { code: '21000' } })), 'permanent', 'the code of a wrapped error counts')
})
