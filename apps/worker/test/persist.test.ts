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
