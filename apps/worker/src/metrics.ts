import type { Redis } from 'ioredis'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { deadLetterKey, groupPosition } from '@tributary/shared'
import type { WorkerStats } from './worker.ts'

/**
 * The worker's Prometheus metrics. Stream figures are read from Redis at scrape time, so
 * every replica reports the same, current values; labels are the shard number only.
 * Alert on tributary_stream_backlog_entries and tributary_stream_oldest_pending_age_seconds
 * growing, on tributary_dlq_entries above zero, and on tributary_redis_used_memory_bytes
 * nearing tributary_redis_maxmemory_bytes.
 * @see https://github.com/siimon/prom-client
 */
export function createWorkerMetrics(redis: Redis, streams: string[]) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tributary_worker_' })
  const batchEvents = new Histogram({ name: 'tributary_worker_batch_events', help: 'Events per batch written', buckets: [1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000], registers: [registry] })
  const batchSeconds = new Histogram({ name: 'tributary_worker_batch_write_seconds', help: 'Time to write and acknowledge one batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] })
  let stats: WorkerStats | undefined

  const counter = (name: string, help: string, read: (s: WorkerStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        if (stats) {
          this.reset()
          this.inc(read(stats))
        }
      },
    })
  counter('tributary_worker_events_inserted_total', 'Events inserted into Postgres (redeliveries excluded)', (s) => s.eventsInserted)
  counter('tributary_worker_batches_total', 'Batches written', (s) => s.batches)
  counter('tributary_worker_dead_lettered_total', 'Entries moved to the dead-letter stream', (s) => s.deadLettered)
  counter('tributary_worker_claimed_total', 'Entries taken over from other consumers', (s) => s.claimed)
  counter('tributary_worker_transient_errors_total', 'Transient errors retried', (s) => s.transientErrors)
  counter('tributary_worker_merged_batches_total', 'Batches that held events already stored (redeliveries): the stored ones were looked up and only the others copied', (s) => s.mergedBatches)
  counter('tributary_worker_stuck_writers_ended_total', "Peers' transactions ended because they blocked a write while their worker was silent", (s) => s.stuckWritersEnded)
  counter('tributary_worker_lost_entries_total', 'Pending entries found deleted from the stream', (s) => s.lostEntries)
  new Gauge({ name: 'tributary_sync_last_success_timestamp_seconds', help: 'When cleanup-and-sync last ran here', registers: [registry], collect() { if (stats?.lastSync) this.set(stats.lastSync.at / 1000) } })
  new Gauge({ name: 'tributary_sync_last_duration_seconds', help: 'How long the last cleanup-and-sync run here took', registers: [registry], collect() { if (stats?.lastSync) this.set(stats.lastSync.durationMs / 1000) } })

  // prom-client collects all metrics at once; the stream gauges share one read of Redis per scrape.
  // (all their collect() calls start in the same tick, before the first read completes).
  let refreshing: Promise<void> | undefined
  const refreshOnce = () => (refreshing ??= refreshStreams().finally(() => (refreshing = undefined)))
  const perShard = (name: string, help: string) => new Gauge({ name, help, labelNames: ['shard'], registers: [registry], collect: refreshOnce })
  const length = perShard('tributary_stream_length_entries', 'Entries in the shard stream (acknowledged ones until trimmed)')
  const backlog = perShard('tributary_stream_backlog_entries', 'Entries not yet delivered to the group, plus delivered but not acknowledged')
  const pending = perShard('tributary_stream_pending_entries', 'Entries delivered but not acknowledged')
  const oldest = perShard('tributary_stream_oldest_pending_age_seconds', 'Age of the oldest unacknowledged entry')
  const dlq = perShard('tributary_dlq_entries', 'Entries in the dead-letter stream')
  // Ingest answers 503 once Redis is full (noeviction): alert on used / max well before.
  const usedMemory = new Gauge({ name: 'tributary_redis_used_memory_bytes', help: "Redis's used_memory: the backlog, the seen event ids, sessions and counters", registers: [registry], collect: refreshOnce })
  const maxMemory = new Gauge({ name: 'tributary_redis_maxmemory_bytes', help: "Redis's maxmemory (0: no limit); past it Redis refuses writes and ingest answers 503", registers: [registry], collect: refreshOnce })
  const scrapeOk = new Gauge({ name: 'tributary_worker_stream_scrape_ok', help: '1 when the stream figures could be read from Redis at this scrape', registers: [registry], collect: refreshOnce })

  async function refreshStreams() {
    try {
      // Not connected (down at start, reconnecting): commands would wait in the offline queue,
      // and the scrape with them.
      if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`)
      for (const stream of streams) {
        const shard = /\{(\d+)\}/.exec(stream)?.[1] ?? '0'
        const [position, dlqLength] = await Promise.all([groupPosition(redis, stream), redis.xlen(deadLetterKey(Number(shard)))])
        length.set({ shard }, position.length)
        pending.set({ shard }, position.pending)
        backlog.set({ shard }, position.undelivered + position.pending)
        oldest.set({ shard }, position.oldestPendingId ? Math.max(0, (Date.now() - Number(position.oldestPendingId.split('-')[0])) / 1000) : 0)
        dlq.set({ shard }, dlqLength)
      }
      const memory = await redis.info('memory')
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(memory)?.[1] ?? NaN)
      usedMemory.set(field('used_memory'))
      maxMemory.set(field('maxmemory'))
      scrapeOk.set(1)
    } catch {
      scrapeOk.set(0)
    }
  }

  return {
    registry,
    observeBatch(events: number, seconds: number) {
      batchEvents.observe(events)
      batchSeconds.observe(seconds)
    },
    attach(workerStats: WorkerStats) {
      stats = workerStats
    },
  }
}
