import t from 'tap'
import { pageview, pipeline } from './fixtures/pipeline.ts'

t.test('events flow from the stream into Postgres and are acknowledged', async (t) => {
  const p = await pipeline(t)
  await p.produce([pageview('e1', { page: '/pricing', metadata: { plan: 'pro' } }), { eventId: 'e2', type: 'action', action: 'signup', userId: 'u1' }])
  await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 2, 'two rows')
  await p.waitFor(async () => (await p.pendingCount()) === 0, 'nothing pending')
  const rows = await p.database.sql`select event_id, type, page, action, metadata, user_key, session_id, tenant_id, occurred_at, received_at from user_activities order by event_id`
  t.match(rows[0], { event_id: 'e1', type: 'pageview', page: '/pricing', metadata: { plan: 'pro' }, user_key: 'visitor', tenant_id: p.tenant.tenantId, occurred_at: Date, received_at: Date })
  t.match(rows[1], { event_id: 'e2', type: 'action', action: 'signup', user_key: 'u1' })
  const sessions = await p.database.sql`select id, user_key, started_at, last_seen_at, is_active from user_sessions order by user_key`
  t.equal(sessions.length, 2, 'each user got a session')
  t.equal(sessions[0]!.id, rows[1]!.session_id)
})

t.test('the same event delivered twice, and twice inside one batch, is one row', async (t) => {
  const p = await pipeline(t)
  const { streamKey, shardFor } = await import('@tributary/shared')
  await p.produce([pageview('dup')])
  // Bypass ingest's dedup: the same entry again, as a retry that slipped through would be.
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  const [first] = await p.redis.xrange(stream, '-', '+')
  const fields = first![1]
  await p.redis.xadd(stream, '*', ...fields!)
  await p.redis.xadd(stream, '*', ...fields!)
  const worker = await p.startWorker()
  await p.waitFor(async () => (await p.pendingCount()) === 0 && (await p.redis.xlen(stream)) > 0, 'all acknowledged')
  await p.waitFor(async () => (await p.rowCount()) === 1, 'one row')
  t.equal(await p.rowCount(), 1)
  t.equal(worker.stats.mergedBatches, 0, 'repeats inside one batch are dropped before COPY')

  // Delivered again in a later batch, after its row is stored: merged, still one row.
  await p.redis.xadd(stream, '*', ...fields!)
  await p.waitFor(async () => (await p.pendingCount()) === 0 && worker.stats.mergedBatches === 1, 'merged')
  t.equal(await p.rowCount(), 1)
})

t.test('across the upgrade to entry version 2: entries the previous ingest wrote (version 1) and new ones are all stored, each event once', async (t) => {
  const p = await pipeline(t)
  const { streamKey, shardFor, encodeEventJson, normalizeNative } = await import('@tributary/shared')
  const stream = streamKey(shardFor(p.tenant.tenantId, 2))
  // A version-1 entry as ingest wrote it before 3207fc0: the lines as text, a session and user per line.
  const lines = ['old1', 'old2'].map((id) => {
    const n = normalizeNative(pageview(id, { page: `/${id}` }), Date.now(), undefined)
    if (!n.ok) throw new Error(n.message)
    return encodeEventJson(n.event)
  })
  await p.redis.xadd(stream, '*', 'v', '1', 'k', 'ev', 't', p.tenant.tenantId, 'r', String(Date.now()), 'e', lines.join('\n'), 's', 'sess-old\nsess-old', 'u', 'visitor\nvisitor')
  await p.produce([pageview('new1'), pageview('new2')])
  // A resend with one new event: version 2 names the accepted line (`a`), the worker keeps only it.
  await p.produce([pageview('new1'), pageview('new3')])
  const fields = (await p.redis.xrange(stream, '-', '+')).map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])))
  t.same(fields.map((f) => [f.v, f.a]), [['1', undefined], ['2', undefined], ['2', '1']], 'one entry of each version, the last naming its one accepted line')
  await p.startWorker()
  await p.waitFor(async () => (await p.rowCount()) === 5 && (await p.pendingCount()) === 0, 'five rows')
  const rows = await p.database.sql`select event_id, page, session_id from user_activities order by event_id`
  t.same(rows.map((r) => r.event_id), ['new1', 'new2', 'new3', 'old1', 'old2'])
  t.same(rows.filter((r) => String(r.event_id).startsWith('old')).map((r) => [r.page, r.session_id]), [['/old1', 'sess-old'], ['/old2', 'sess-old']], 'version 1: each line with its session')
  t.equal(new Set(rows.filter((r) => String(r.event_id).startsWith('new')).map((r) => r.session_id)).size, 1, 'version 2: one session for the three new events')
})
