import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { Redis } from 'ioredis'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { startTestServers } from '@tributary/servers'
import { batchBodies, gzipBatchBody, load, markPastUpgradeWindow, segmentBatchBodies, singleEventBody, startIngest, type IngestScenario, type LoadResult } from './ingest.ts'
import { benchWorker } from './worker.ts'
import { benchReads } from './reads.ts'
import { benchEndToEnd } from './end-to-end.ts'
import { cpuShares } from './cpu.ts'
import { roundsNote, roundsSummary } from './rounds.ts'

/**
 * `pnpm bench`: every figure is measured against its ceiling in the same run on the same
 * machine, and reported; nothing here passes or fails. Redis runs with the shipped
 * durability setting (appendfsync always).
 *
 * BENCH_SECONDS (default 10) sets the length of each timed run; each is preceded by a
 * 3-second warm-up. BENCH_CONNECTIONS (50) and BENCH_WIDE_CONNECTIONS (200) are the load
 * generator's connections for the ingest runs. BENCH_WORKER_EVENTS (default 500,000) sizes the worker benchmark, which
 * runs on its own servers with Postgres fsync on, as in production. BENCH_READ_EVENTS (default
 * 10,000,000) sizes the read benchmark's tenant. BENCH_E2E_STEP_SECONDS (20) and
 * BENCH_E2E_HOLD_SECONDS (60) time the end-to-end ramp.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
/**
 * The 50-event batch is also measured with many more clients at once, as when a large
 * fleet of SDKs sends together. Reported beside the 50-connection figure, which is the one
 * the goal is read from: more connections lower the ceiling (medians 10–19 % lower in
 * profile-ingest pairs and the full runs of 2026-11-27) and raise the real path a little
 * (4–12 %), so this ratio is the higher of the two for reasons on both sides.
 */
const WIDE_CONNECTIONS = Number(process.env.BENCH_WIDE_CONNECTIONS ?? 200)
const log = (line: string) => console.error(`[bench] ${line}`)

const servers = await startTestServers({ appendfsync: 'always' })
process.on('exit', () => void servers.stop())
try {
  await runMigrations(servers.databaseUrl)
  const { db, close } = createDatabase(servers.databaseUrl, { applicationName: 'bench', maxConnections: 2 })
  const tenant = await createTenant(db, `bench-${Date.now()}`)
  await close()
  const env = { DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl, RATE_LIMIT_EVENTS_PER_SECOND: '0', STREAM_BACKLOG_CAP: '0' }
  const auth = { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }
  let runId = 0
  const scenario = (kind: 'batch' | 'single' | 'gzip' | 'segment', port: number): IngestScenario => {
    const run = `r${++runId}-${Date.now()}`
    const base = `http://127.0.0.1:${port}`
    if (kind === 'single') return { name: kind, url: `${base}/api/v2/analytics/events`, headers: auth, eventsPerRequest: 1, body: (n) => singleEventBody(run, n) }
    if (kind === 'gzip') return { name: kind, url: `${base}/api/v2/analytics/events`, headers: { ...auth, 'content-encoding': 'gzip' }, eventsPerRequest: 50, body: (n) => gzipBatchBody(run, n) }
    if (kind === 'segment') return { name: kind, url: `${base}/v1/batch`, headers: auth, eventsPerRequest: 50, body: segmentBatchBodies(run) }
    return { name: kind, url: `${base}/api/v2/analytics/events`, headers: auth, eventsPerRequest: 50, body: batchBodies(run) }
  }

  const redis = new Redis(servers.redisUrl)
  /**
   * Every measurement starts from an empty Redis with a compacted AOF. Without workers the
   * streams only grow (~150 MB per real run); left in place, they make each run slower than
   * the last, and the AOF rewrite they trigger lands on whichever run comes next.
   */
  async function resetRedis() {
    await redis.flushall()
    await markPastUpgradeWindow(redis, env)
    await redis.bgrewriteaof()
    for (;;) {
      const info = await redis.info('persistence')
      if (/aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) break
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  async function measure(kind: Parameters<typeof scenario>[0], mode: 'real' | 'ceiling', rate?: number, connections = CONNECTIONS): Promise<MeasuredLoad> {
    await resetRedis()
    const server = await startIngest(env, mode)
    try {
      await load(scenario(kind, server.port), 3, connections, server.rss)
      // The load generator runs in this process, so its CPU is this process's.
      const { result, shares } = await cpuShares({ ingest: server.child.pid!, redis: servers.redis.pid!, loadgen: process.pid }, () => load(scenario(kind, server.port), SECONDS, connections, server.rss, rate))
      const perRequest = (share: number) => Math.round((share / result.requestsPerSecond) * 1e6)
      const cpuUsPerRequest = { ingest: perRequest(shares.ingest!), redis: perRequest(shares.redis!), loadgen: perRequest(shares.loadgen!) }
      log(`${kind.padEnd(7)} ${mode.padEnd(8)}${connections === CONNECTIONS ? '' : ` ×${connections}`}${rate ? ` @${rate}/s` : ''}: ${result.requestsPerSecond.toFixed(0)} req/s, ${result.eventsPerSecond.toFixed(0)} events/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, RSS ${result.peakRssMb.toFixed(0)} MB, CPU per request: ingest ${cpuUsPerRequest.ingest} µs, Redis ${cpuUsPerRequest.redis}, load generator ${cpuUsPerRequest.loadgen}${result.non2xx || result.errors ? `, non-2xx ${result.non2xx}, errors ${result.errors}` : ''}`)
      return { ...result, cpuUsPerRequest }
    } finally {
      await server.stop()
    }
  }

  // A B A B A B: the 50-event batch, real against ceiling, alternating so drift hits both;
  // the ratio is of the medians, so one disturbed run on either side does not decide it.
  async function alternate(connections: number) {
    const rounds: Array<{ ceiling: MeasuredLoad; real: MeasuredLoad }> = []
    for (let i = 0; i < 3; i++) rounds.push({ ceiling: await measure('batch', 'ceiling', undefined, connections), real: await measure('batch', 'real', undefined, connections) })
    // A round whose load generator saw errors or non-2xx answers still counts, but says so in the table.
    const troubled = rounds.flatMap((r) => [r.ceiling, r.real]).filter((r) => r.errors > 0 || r.non2xx > 0).length
    const ceilingRps = median(rounds.map((r) => r.ceiling.requestsPerSecond))
    const realRps = median(rounds.map((r) => r.real.requestsPerSecond))
    const summary = roundsSummary(rounds.map((r) => ({ ceiling: r.ceiling.requestsPerSecond, real: r.real.requestsPerSecond })))
    return { connections, rounds, troubled, ceilingRps, realRps, ratio: realRps / ceilingRps, summary }
  }
  const batch = await alternate(CONNECTIONS)
  const { rounds, realRps } = batch
  const wide = await alternate(WIDE_CONNECTIONS)
  const batchRow = (b: typeof batch, goal: string): [string, number, number, number, string] => [
    `ingest 50-event batch, ${b.connections} connections (${roundsNote(b.summary)})${b.troubled ? ` (${b.troubled} of ${2 * b.rounds.length} runs with load errors)` : ''}`,
    b.realRps * 50, b.ceilingRps * 50, b.ratio, goal,
  ]
  const at80 = await measure('batch', 'real', Math.round(realRps * 0.8))
  const others: Record<string, { real: MeasuredLoad; ceiling: MeasuredLoad }> = {}
  for (const kind of ['single', 'gzip', 'segment'] as const) others[kind] = { ceiling: await measure(kind, 'ceiling'), real: await measure(kind, 'real') }

  const rows = [
    batchRow(batch, '≥ 0.70'),
    batchRow(wide, '(shape of load)'),
    ...Object.entries(others).map(([kind, r]) => [`ingest ${kind}`, r.real.eventsPerSecond, r.ceiling.eventsPerSecond, r.real.eventsPerSecond / r.ceiling.eventsPerSecond, '']),
  ] as Array<[string, number, number, number, string]>
  console.log('\n| benchmark | events/s | ceiling events/s | ratio | goal |\n| --- | ---: | ---: | ---: | --- |')
  for (const [name, value, ceiling, ratio, goal] of rows) console.log(`| ${name} | ${value.toFixed(0)} | ${ceiling.toFixed(0)} | ${ratio.toFixed(2)} | ${goal} |`)
  const budget = cpuBudget(batch.rounds, batch.ceilingRps)
  console.log(`| ingest 50-event batch: CPU per request (medians of the rounds) | real: ingest ${budget.real.ingest} + Redis ${budget.real.redis} + load generator ${budget.real.loadgen} µs; ceiling: ingest ${budget.ceiling.ingest} + load generator ${budget.ceiling.loadgen} µs | | | |`)
  console.log(`| ingest 50-event batch: the most ${budget.cores} fully busy cores allow at the real path's costs | ${(budget.maxRealRps * 50).toFixed(0)} | ${(batch.ceilingRps * 50).toFixed(0)} | ${budget.maxRatio.toFixed(2)} | |`)
  redis.disconnect()
  await servers.stop()
  const workerServers = await startTestServers({ appendfsync: 'everysec', postgresFsync: true })
  const worker = await benchWorker(workerServers, Number(process.env.BENCH_WORKER_EVENTS ?? 500_000)).finally(() => workerServers.stop())
  console.log(`| worker, 1 replica (rows/s) | ${worker.oneWorkerRowsPerSecond.toFixed(0)} | ${worker.copyRowsPerSecond.toFixed(0)} (COPY) | ${worker.ratio.toFixed(2)} | ≥ 0.80 |`)
  console.log(`| worker, 2 replicas (rows/s) | ${worker.twoWorkersRowsPerSecond.toFixed(0)} | ${worker.copyRowsPerSecond.toFixed(0)} (COPY) | ${(worker.twoWorkersRowsPerSecond / worker.copyRowsPerSecond).toFixed(2)} | rises or holds |`)
  const e2eServers = await startTestServers({ appendfsync: 'always', postgresFsync: true })
  const endToEnd = await benchEndToEnd(e2eServers, {
    stepSeconds: Number(process.env.BENCH_E2E_STEP_SECONDS ?? 20),
    holdSeconds: Number(process.env.BENCH_E2E_HOLD_SECONDS ?? 60),
    rates: [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000],
  }).finally(() => e2eServers.stop())
  console.log(`| end to end, highest steady rate of the ramp (${endToEnd.steps[0]?.seconds ?? 0} s steps, ${endToEnd.load} load) | ${endToEnd.highestSteadyEventsPerSecond} | | | |`)
  for (const failed of endToEnd.failedHolds) {
    console.log(`| end to end, not steady for ${failed.seconds} s at ${failed.offeredEventsPerSecond} offered | ${failed.ackedEventsPerSecond.toFixed(0)} acked/s, lag p99 ${failed.lagP99Ms} ms, ${failed.lost} lost of ${failed.acked} acked, AOF rewrites during it ${failed.aofRewrites} | | | |`)
  }
  console.log(`| end to end, highest rate steady for the whole hold (events/s) | ${endToEnd.heldEventsPerSecond} | | | ≥ 50,000 |`)
  if (endToEnd.hold) {
    const { hold } = endToEnd
    console.log(`| end to end, the hold: ${endToEnd.heldEventsPerSecond} events/s offered for ${hold.seconds} s | ${hold.ackedEventsPerSecond.toFixed(0)} acked/s, lag p50 ${hold.lagP50Ms} ms, p99 ${hold.lagP99Ms} ms, AOF rewrites during it ${hold.aofRewrites} | | | p99 < 1 s |`)
    console.log(`| end to end, ledger over the hold | ${hold.lost} lost of ${hold.acked} acked | | | 0 |`)
    console.log(`| memory over the hold (peak) | ingest RSS ${hold.memory.ingestPeakRssMb.toFixed(0)} MB, worker RSS ${hold.memory.workerPeakRssMb.toFixed(0)} MB, Redis ${hold.memory.redisPeakUsedMemoryMb.toFixed(0)} MB for ≤ ${hold.memory.peakStreamEntries} stream entries | | | Redis bounded by the backlog |`)
  }
  if (endToEnd.counting) {
    console.log(`| end to end, counted once (all holds) | daily metrics ${endToEnd.counting.metricsEvents} events for ${endToEnd.counting.storedEvents} stored rows | | | equal |`)
  }
  const readServers = await startTestServers()
  const reads = await benchReads(readServers, Number(process.env.BENCH_READ_EVENTS ?? 10_000_000)).finally(() => readServers.stop())
  console.log(`| historical?days=365 p95 (ms), ${reads.events} events | ${reads.historical365.p95Ms} | | | < 50 |`)
  console.log(`| historical/pages and /events?days=365 p95 (ms) | ${reads.topPages365.p95Ms} / ${reads.topEvents365.p95Ms} | | | |`)
  console.log(`| realtime p95 (ms) | ${reads.realtime.p95Ms} | | | < 10 |`)
  console.log(`\nat 80 % of the measured rate (${Math.round(realRps * 0.8)} req/s): p50 ${at80.p50Ms} ms, p99 ${at80.p99Ms} ms; ingest peak RSS ${Math.max(...rounds.map((r) => r.real.peakRssMb), at80.peakRssMb).toFixed(0)} MB at full rate; worker peak RSS ${worker.workerPeakRssMb.toFixed(0)} MB draining a backlog`)

  mkdirSync(new URL('../results/', import.meta.url), { recursive: true })
  const results = {
    when: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    settings: { seconds: SECONDS, connections: CONNECTIONS, wideConnections: WIDE_CONNECTIONS, redisAppendfsync: 'always' },
    ingest: { batch50: { rounds, ratio: batch.ratio, ...batch.summary, cpuBudget: budget, at80 }, batch50Wide: { connections: WIDE_CONNECTIONS, rounds: wide.rounds, ratio: wide.ratio, ...wide.summary }, ...others },
    worker,
    endToEnd,
    reads,
  }
  writeFileSync(new URL('../results/latest.json', import.meta.url), JSON.stringify(results, null, 2) + '\n')
  log('wrote bench/results/latest.json')
} finally {
  await servers.stop()
}

/** A load run with the CPU each process spent per 2xx request (µs), measured from /proc. */
type MeasuredLoad = LoadResult & { cpuUsPerRequest: { ingest: number; redis: number; loadgen: number } }

/**
 * What the machine's cores allow the real path at the CPU its requests cost: ingest, Redis
 * and the load generator share the cores, while the ceiling is bound by its one main
 * thread. If every core were busy all the time, no more than cores / (sum of the real
 * path's µs per request) requests per second could be served; the ratio of that to the
 * ceiling is the most the measured ratio could reach on this machine with these costs.
 */
function cpuBudget(rounds: Array<{ ceiling: MeasuredLoad; real: MeasuredLoad }>, ceilingRps: number) {
  const of = (side: 'real' | 'ceiling', proc: 'ingest' | 'redis' | 'loadgen') => median(rounds.map((r) => r[side].cpuUsPerRequest[proc]))
  const real = { ingest: of('real', 'ingest'), redis: of('real', 'redis'), loadgen: of('real', 'loadgen') }
  const ceiling = { ingest: of('ceiling', 'ingest'), loadgen: of('ceiling', 'loadgen') }
  const cores = os.cpus().length
  const maxRealRps = (cores * 1e6) / (real.ingest + real.redis + real.loadgen)
  return { cores, real, ceiling, maxRealRps, maxRatio: maxRealRps / ceilingRps }
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}
