import t from 'tap'
import { pino } from 'pino'
import { allStreamKeys } from '@tributary/shared'
import { buildHealthServer } from '../src/health-server.ts'
import { createWorkerMetrics } from '../src/metrics.ts'
import { pageview, pipeline, SHARDS } from './fixtures/pipeline.ts'

const value = (text: string, pattern: RegExp) => Number(text.split('\n').find((l) => pattern.test(l))?.split(' ').pop() ?? NaN)

t.test('worker /metrics: stream length, backlog, pending age, batches, and they move when events flow', async (t) => {
  const p = await pipeline(t)
  const metrics = createWorkerMetrics(p.redis, allStreamKeys(SHARDS))
  for (let r = 0; r < 3; r++) await p.produce(Array.from({ length: 10 }, (_, i) => pageview(`mx${r}-${i}`)))
  const { ensureGroups } = await import('../src/streams.ts')
  await ensureGroups(p.redis, allStreamKeys(SHARDS))
  const app = buildHealthServer({ redis: p.redis, sql: p.database.sql, logger: pino({ level: 'silent' }), metrics: metrics.registry })
  t.teardown(() => app.close())

  const before = (await app.inject({ url: '/metrics' })).body
  const { shardFor } = await import('@tributary/shared')
  const shard = shardFor(p.tenant.tenantId, SHARDS)
  t.equal(value(before, new RegExp(`^tributary_stream_length_entries\\{shard="${shard}"\\}`)), 3)
  t.equal(value(before, new RegExp(`^tributary_stream_backlog_entries\\{shard="${shard}"\\}`)), 3, 'three entries waiting')
  t.equal(value(before, /^tributary_worker_stream_scrape_ok /), 1)
  const used = Number(/^used_memory:(\d+)/m.exec(await p.redis.info('memory'))![1])
  t.ok(Math.abs(value(before, /^tributary_redis_used_memory_bytes /) - used) < used * 0.5, `Redis's used memory (${value(before, /^tributary_redis_used_memory_bytes /)} against ${used})`)
  t.equal(value(before, /^tributary_redis_maxmemory_bytes /), Number(/^maxmemory:(\d+)/m.exec(await p.redis.info('memory'))![1]))

  const worker = await p.startWorker({ WORKER_NAME: 'metered' })
  metrics.attach(worker.stats)
  await p.waitFor(async () => (await p.rowCount()) === 30 && (await p.pendingCount()) === 0, 'drained')
  const after = (await app.inject({ url: '/metrics' })).body
  t.equal(value(after, new RegExp(`^tributary_stream_backlog_entries\\{shard="${shard}"\\}`)), 0, `backlog drained: ${after.split('\n').filter((l) => l.startsWith('tributary_stream')).join(' | ')}`)
  t.equal(value(after, /^tributary_worker_events_inserted_total /), 30)
  t.equal(value(after, new RegExp(`^tributary_dlq_entries\\{shard="${shard}"\\}`)), 0)
  t.match(after, /tributary_worker_process_resident_memory_bytes/)
})
