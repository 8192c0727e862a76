import { fork, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { freePort, waitUntilReady, type TestServers } from '@tributary/servers'
import { allStreamKeys, decodeEntry, groupPosition } from '@tributary/shared'
import { createEventLog } from '@tributary/ingest/event-log'
import { appExecArgv, workerBundle } from './bundles.ts'
import { cpuShares, rssBytes } from './cpu.ts'
import { appendable } from './ingest.ts'

const SHARDS = 4
const log = (line: string) => console.error(`[bench] ${line}`)

export interface WorkerBench {
  events: number
  copyRowsPerSecond: number
  oneWorkerRowsPerSecond: number
  twoWorkersRowsPerSecond: number
  ratio: number
  workerPeakRssMb: number
  cpu: Record<string, number>
}

/** Fills the shard streams with `n` events through the real ingest append path (50 per entry, 40 tenants' worth of users). */
async function prefill(redis: Redis, tenantId: string, n: number, tag: string) {
  const eventLog = createEventLog(redis, { shards: SHARDS, sessionTimeoutMs: 30 * 60_000, dedupWindowSeconds: 600, sessionStateTtlSeconds: 3600, rateLimitPerSecond: 0, backlogCap: 0 })
  const started = Date.now()
  const inflight: Promise<unknown>[] = []
  for (let r = 0; r < n / 50; r++) {
    const receivedAt = Date.now()
    const events = Array.from({ length: 50 }, (_, i) =>
      appendable(
        i % 3 === 0
          ? { eventId: `${tag}${r}-${i}`, type: 'action', action: 'add_to_cart', anonymousId: `v${r % 5000}`, metadata: { sku: `SKU-${i}`, price: 19.99 + i, currency: 'EUR' } }
          : { eventId: `${tag}${r}-${i}`, type: 'pageview', page: `/products/${i % 12}/${r % 500}`, anonymousId: `v${r % 5000}`, metadata: { referrer: 'https://www.example.com/search?q=shoes', title: 'Item page' } },
        receivedAt,
      ),
    )
    inflight.push(eventLog.appendEvents(tenantId, 'bench', events, receivedAt))
    if (inflight.length >= 64) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  log(`prefilled ${n} events in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

/** The rows a worker would write, as COPY text, read back from the streams. */
async function copyText(redis: Redis): Promise<{ text: string; rows: number }> {
  const escape = (v: string | null | undefined) => (v === null || v === undefined ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r'))
  const lines: string[] = []
  for (const stream of allStreamKeys(SHARDS)) {
    let from = '-'
    for (;;) {
      const batch = await redis.xrange(stream, from, '+', 'COUNT', 1000)
      if (batch.length === 0) break
      for (const [, fields] of batch) {
        const entry = decodeEntry(fields)
        if (entry.kind !== 'ev') continue
        const receivedAt = new Date(entry.receivedAt).toISOString()
        for (const e of entry.events) {
          lines.push([entry.tenantId, e.eventId, e.sessionId, e.userKey, e.type, e.page, e.action, e.metadataJson ?? null, new Date(e.occurredAt).toISOString(), receivedAt].map(escape).join('\t'))
        }
      }
      from = '(' + batch[batch.length - 1]![0]
    }
  }
  return { text: lines.join('\n') + '\n', rows: lines.length }
}

async function drain(servers: TestServers, workers: number, expected: number, sql: postgres.Sql) {
  const redis = new Redis(servers.redisUrl)
  const children: ChildProcess[] = []
  const ports: number[] = []
  for (let i = 0; i < workers; i++) {
    const port = await freePort()
    ports.push(port)
    children.push(
      fork(await workerBundle(), [], {
        execArgv: appExecArgv('worker'),
        env: { ...process.env, DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl, STREAM_SHARDS: String(SHARDS), WORKER_NAME: `bench-${workers}-${i}`, WORKER_PORT: String(port), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
  }
  // Time the draining, not the start-up: wait until every worker answers /readyz.
  for (const port of ports) await waitUntilReady('worker', port, 60_000)
  const started = performance.now()
  let peakRss = 0
  const { shares } = await cpuShares({ redis: servers.redis.pid, ...Object.fromEntries(children.map((c, i) => [`worker${i}`, c.pid!])) }, async () => {
    for (;;) {
      await new Promise((r) => setTimeout(r, 100))
      // Done when, on every stream, nothing is undelivered and nothing pending.
      let busy = 0
      for (const stream of allStreamKeys(SHARDS)) {
        const position = await groupPosition(redis, stream)
        busy += position.undelivered + position.pending
      }
      for (const c of children) {
        peakRss = Math.max(peakRss, rssBytes(c.pid!))
      }
      if (busy === 0) break
    }
  }, { postgres: servers.postgres.pid })
  const seconds = (performance.now() - started) / 1000
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))))
  const [row] = await sql`select count(*)::int as n from user_activities`
  if (row!.n !== expected) throw new Error(`expected ${expected} rows, found ${row!.n}`)
  redis.disconnect()
  return { rowsPerSecond: expected / seconds, seconds, peakRssMb: peakRss / 2 ** 20, shares }
}

export async function benchWorker(servers: TestServers, events: number): Promise<WorkerBench> {
  await runMigrations(servers.databaseUrl)
  const { db, close } = createDatabase(servers.databaseUrl, { applicationName: 'bench', maxConnections: 2 })
  const tenant = await createTenant(db, `worker-bench-${Date.now()}`)
  await close()
  const redis = new Redis(servers.redisUrl)
  const sql = postgres(servers.databaseUrl, { max: 2, onnotice: () => {} })
  try {
    await prefill(redis, tenant.tenantId, events, 'one-')

    // Ceiling: COPY of the same rows into a fresh table with the same keys and indexes. COPY
    // and one worker alternate, A B A B, each from empty tables and a checkpoint, and the
    // faster of each pair counts: single runs of a few seconds moved by up to 40 % here
    // (checkpoints, the VM's neighbours), for COPY and worker alike.
    const { text, rows } = await copyText(redis)
    const copyOnce = async () => {
      await sql`drop table if exists copy_ceiling`
      // Like user_activities, no foreign key (the worker checks a batch's tenants once instead).
      await sql`create table copy_ceiling (like user_activities including all)`
      await sql`checkpoint`
      const copyStarted = performance.now()
      const writable = await sql`copy copy_ceiling (tenant_id, event_id, session_id, user_key, type, page, action, metadata, occurred_at, received_at) from stdin`.writable()
      await new Promise<void>((resolve, reject) => {
        writable.on('error', reject)
        writable.on('finish', () => resolve())
        writable.end(text)
      })
      const copySeconds = (performance.now() - copyStarted) / 1000
      log(`COPY: ${rows} rows in ${copySeconds.toFixed(2)} s = ${(rows / copySeconds).toFixed(0)} rows/s`)
      await sql`drop table copy_ceiling`
      return rows / copySeconds
    }
    /** Empty tables and fresh streams holding `events` new events, as before the first run. */
    const refill = async (tag: string) => {
      await sql`truncate user_activities, user_sessions, activity_deltas, metrics_dirty_days`
      for (const stream of allStreamKeys(SHARDS)) await redis.del(stream)
      await prefill(redis, tenant.tenantId, events, tag)
    }
    /** One timed drain by `workers` workers, from a checkpoint. */
    const timedDrain = async (workers: number) => {
      await sql`checkpoint`
      const run = await drain(servers, workers, rows, sql)
      log(`${workers} worker${workers === 1 ? '' : 's'}: ${run.rowsPerSecond.toFixed(0)} rows/s (${run.seconds.toFixed(1)} s), peak RSS ${run.peakRssMb.toFixed(0)} MB, CPU ${Object.entries(run.shares).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ')}`)
      return run
    }
    const faster = <T extends { rowsPerSecond: number }>(a: T, b: T) => (b.rowsPerSecond > a.rowsPerSecond ? b : a)
    const copyFirst = await copyOnce()
    const oneFirst = await timedDrain(1)
    const copyRowsPerSecond = Math.max(copyFirst, await copyOnce())
    await refill('again-')
    const oneSecond = await timedDrain(1)
    const one = faster(oneFirst, oneSecond)

    // Again with two workers: empty tables, the same number of new events in fresh streams.
    // The faster of two runs, as for one worker, so that the comparison is like for like.
    await refill('two-')
    const twoFirst = await timedDrain(2)
    await refill('two-again-')
    const twoSecond = await timedDrain(2)
    const two = faster(twoFirst, twoSecond)
    return { events: rows, copyRowsPerSecond, oneWorkerRowsPerSecond: one.rowsPerSecond, twoWorkersRowsPerSecond: two.rowsPerSecond, ratio: one.rowsPerSecond / copyRowsPerSecond, workerPeakRssMb: Math.max(oneFirst.peakRssMb, oneSecond.peakRssMb, twoFirst.peakRssMb, twoSecond.peakRssMb), cpu: one.shares }
  } finally {
    redis.disconnect()
    await sql.end()
  }
}
