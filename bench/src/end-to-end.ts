import { fork, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { cleanupAndSync, createDatabase, createTenant, runMigrations } from '@tributary/db'
import { freePort, percentile, waitUntilReady, type TestServers } from '@tributary/servers'
import { allStreamKeys } from '@tributary/shared'
import { appExecArgv, workerBundle } from './bundles.ts'
import { rssBytes } from './cpu.ts'
import { stampedBodies, stampOf, startIngest } from './ingest.ts'
import { offerLoad, type LoadKind } from './offer-load.ts'

const log = (line: string) => console.error(`[bench] ${line}`)

/** BENCH_E2E_LOAD: how the offered rate is sent (bench/src/offer-load.ts). */
const LOAD: LoadKind = process.env.BENCH_E2E_LOAD === 'autocannon' ? 'autocannon' : 'paced'

export interface EndToEndStep {
  offeredEventsPerSecond: number
  /** Events of the 2xx answers per second of the step (paced: those that arrived within it). */
  ackedEventsPerSecond: number
  /** Request latency p99: from the moment the request was due with the paced load, from its send with autocannon. */
  requestP99Ms: number
  lagP50Ms: number
  lagP99Ms: number
  seconds: number
  /** AOF rewrites that ran during the step, whole or in part: each takes a core for seconds (infra/README.md). */
  aofRewrites: number
}

export interface EndToEndBench {
  /** How the rate was offered (BENCH_E2E_LOAD). */
  load: LoadKind
  steps: EndToEndStep[]
  /** The highest rate of the ramp whose step was steady. */
  highestSteadyEventsPerSecond: number
  /** Holds that were not steady for their whole length, highest rate first. */
  failedHolds: Hold[]
  /** The highest rate that stayed steady for the whole hold (0 when none did): the figure the spec asks for. */
  heldEventsPerSecond: number
  hold?: Hold
  /** After the last hold: every stored row of the run counted once by the daily metrics? */
  counting?: MetricsCount
}

/** One hold, with its ledger (every acknowledged event stored?) and its peak memory. */
export type Hold = EndToEndStep & { acked: number; stored: number; lost: number; memory: HoldMemory }

/** Steady: acknowledged what was offered (95 %) and committed it within 1 s at the p99. */
export const isSteady = (s: EndToEndStep) => s.lagP99Ms <= 1000 && s.ackedEventsPerSecond >= s.offeredEventsPerSecond * 0.95

/**
 * Counted once: after the last hold, once the worker has written everything and a sync has run,
 * the tenant's daily metrics against its stored rows (every step's, not just the hold's).
 * Duplicate rows cannot be checked for — the primary key refuses them — but an event counted
 * twice (or missed) by the metrics would show here.
 */
export interface MetricsCount {
  storedEvents: number
  metricsEvents: number
}

/** Peaks sampled every 500 ms over the hold: what each part needs under that load. */
export interface HoldMemory {
  ingestPeakRssMb: number
  workerPeakRssMb: number
  redisPeakUsedMemoryMb: number
  /** Stream entries not yet trimmed (written, or written and acknowledged since the last trim). */
  peakStreamEntries: number
}

/**
 * Acked → committed lag under load, everything on one machine: the load generator drives one
 * ingest process at a fixed offered rate (50-event batches) while one worker writes to
 * Postgres; every 10th request's first event is timed from its 2xx to the moment a poller
 * (every 100 ms) sees its row. The rate rises step by step until the p99 lag passes 1 s;
 * the highest rate below that is then held for HOLD seconds — and if it does not stay
 * steady that long, the next lower steady rate of the ramp, and so on. Every hold is checked
 * against the ledger (every acknowledged event stored); after the last, the daily metrics
 * must count each stored event once.
 */
/** The id of event `i` of request `request` (a stamp, or the number stampOf wrote over it) in step `tag`. */
const eventIdOf = (tag: string, request: string, i: number) => `${tag}-${request}-${i}`

export async function benchEndToEnd(servers: TestServers, options: { stepSeconds: number; holdSeconds: number; rates: number[] }): Promise<EndToEndBench> {
  await runMigrations(servers.databaseUrl)
  const { db, close } = createDatabase(servers.databaseUrl, { applicationName: 'bench', maxConnections: 2 })
  const tenant = await createTenant(db, `e2e-${Date.now()}`)
  // Unprepared, so each poll is planned for its own ids. Prepared, the poll became the busiest
  // statement in 3 of 3 paced ramps from 5,000 (Postgres at 53–89 % of a core from 15,000
  // events/s, against ~19 % without it), and the lag it measured rose past 1 s; most likely
  // the generic plan Postgres switches a prepared statement to after 5 runs, chosen while the
  // table was nearly empty (BENCHMARKS.md, End to end).
  const sql = postgres(servers.databaseUrl, { max: 2, onnotice: () => {}, prepare: false })
  const env = { DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl, RATE_LIMIT_EVENTS_PER_SECOND: '0', STREAM_BACKLOG_CAP: '0' }
  const ingest = await startIngest(env, 'real')
  const workerPort = await freePort()
  const worker: ChildProcess = fork(await workerBundle(), [], {
    execArgv: appExecArgv('worker'),
    env: { ...process.env, ...env, WORKER_NAME: 'e2e', WORKER_PORT: String(workerPort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let run = 0
  /** Request numbers of the acked requests of the hold: 50 ids each, written out only to check them. */
  const acked: number[] = []
  /** 2xx answers of the hold that did not accept all 50 events (there should be none). */
  const notAccepted: string[] = []
  const redis = new Redis(servers.redisUrl)
  const noPeaks = (): HoldMemory => ({ ingestPeakRssMb: 0, workerPeakRssMb: 0, redisPeakUsedMemoryMb: 0, peakStreamEntries: 0 })
  const memory = noPeaks()
  async function sampleMemory() {
    const mb = (bytes: number) => bytes / 2 ** 20
    memory.ingestPeakRssMb = Math.max(memory.ingestPeakRssMb, mb(await ingest.rss()))
    memory.workerPeakRssMb = Math.max(memory.workerPeakRssMb, mb(rssBytes(worker.pid!)))
    memory.redisPeakUsedMemoryMb = Math.max(memory.redisPeakUsedMemoryMb, mb(Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0)))
    let entries = 0
    for (const stream of allStreamKeys(Number(process.env.STREAM_SHARDS ?? 4))) entries += await redis.xlen(stream)
    memory.peakStreamEntries = Math.max(memory.peakStreamEntries, entries)
  }

  /** Rewrites Redis has finished since it started, and whether one runs now. */
  async function aofRewrites() {
    const info = await redis.info('persistence')
    return { done: Number(/aof_rewrites:(\d+)/.exec(info)?.[1] ?? 0), running: Number(/aof_rewrite_in_progress:(\d+)/.exec(info)?.[1] ?? 0) }
  }

  async function step(rate: number, seconds: number, keepLedger: boolean): Promise<EndToEndStep> {
    const tag = `r${++run}`
    const sent = new Map<string, number>() // sampled event id → ack time
    const seen = new Map<string, number>()
    const body = stampedBodies((variant, stamp) => JSON.stringify({ events: Array.from({ length: 50 }, (_, i) => ({ eventId: eventIdOf(tag, stamp, i), type: i % 3 ? 'pageview' : 'action', page: `/p/${i % 12}`, action: 'click', anonymousId: `v${variant}` })) }), 997)
    let stop = false
    let drainDeadline = Number.POSITIVE_INFINITY
    const poller = (async () => {
      while (!stop || seen.size < sent.size) {
        const waiting = [...sent.keys()].filter((id) => !seen.has(id))
        if (waiting.length > 0) {
          const rows = await sql`select event_id from user_activities where tenant_id = ${tenant.tenantId} and event_id = any(${waiting})`
          const now = performance.now()
          for (const r of rows) seen.set(r.event_id as string, now)
        }
        if (stop && performance.now() > drainDeadline) break
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    const sampler = keepLedger ? setInterval(() => void sampleMemory().catch(() => {}), 500) : undefined
    const onAnswer = (status: number, responseBody: string, id: number) => {
      if (status !== 202) return
      if (keepLedger) {
        acked.push(id)
        // Every event of the bench is new: an answer that accepted fewer than 50 is itself a finding.
        const accepted = (JSON.parse(responseBody) as { accepted?: number }).accepted
        if (accepted !== 50) notAccepted.push(`request ${id}: ${responseBody}`)
      }
      if (id % 10 === 0) sent.set(eventIdOf(tag, stampOf(id), 0), performance.now())
    }
    const rewritesBefore = await aofRewrites()
    const result = await offerLoad(LOAD, { origin: `http://127.0.0.1:${ingest.port}`, authorization: `Bearer ${tenant.writeKey}`, requestsPerSecond: rate / 50, seconds, body, onAnswer })
    const rewritesAfter = await aofRewrites()
    clearInterval(sampler)
    stop = true
    drainDeadline = performance.now() + 30_000
    await poller
    const lags = [...sent].map(([id, at]) => (seen.has(id) ? seen.get(id)! - at : Number.POSITIVE_INFINITY)).sort((a, b) => a - b)
    const outcome = { offeredEventsPerSecond: rate, ackedEventsPerSecond: result.okPerSecond * 50, requestP99Ms: result.latencyP99Ms, lagP50Ms: Math.round(percentile(lags, 50) ?? Number.POSITIVE_INFINITY), lagP99Ms: Math.round(percentile(lags, 99) ?? Number.POSITIVE_INFINITY), seconds, aofRewrites: rewritesAfter.done - rewritesBefore.done + rewritesAfter.running }
    log(`end to end @ ${rate} events/s offered: ${outcome.ackedEventsPerSecond.toFixed(0)} acked/s, requests p50 ${result.latencyP50Ms} / p99 ${result.latencyP99Ms} / max ${result.latencyMaxMs} ms${LOAD === 'paced' ? ' from due' : ''}, ${result.failed} failed, lag p50 ${outcome.lagP50Ms} ms, p99 ${outcome.lagP99Ms} ms, AOF rewrites during it ${outcome.aofRewrites}`)
    return outcome
  }

  /** Waits for the tenant's stored rows to stop growing (the worker has written everything), syncs, compares. */
  async function countInMetrics(): Promise<MetricsCount> {
    const storedNow = async () => Number((await sql`select count(*)::int as n from user_activities where tenant_id = ${tenant.tenantId}`)[0]!.n)
    let storedEvents = await storedNow()
    for (let quiet = 0; quiet < 2; ) {
      await new Promise((r) => setTimeout(r, 500))
      const next = await storedNow()
      quiet = next === storedEvents ? quiet + 1 : 0
      storedEvents = next
    }
    await cleanupAndSync(db, { sessionTimeoutMinutes: 30, tenantId: tenant.tenantId, wait: true })
    const [row] = await sql`select coalesce(sum(events), 0)::bigint as n from platform_metrics where tenant_id = ${tenant.tenantId}`
    return { storedEvents, metricsEvents: Number(row!.n) }
  }

  try {
    await waitUntilReady('worker', workerPort, 10_000)
    const steps: EndToEndStep[] = []
    let best = 0
    for (const rate of options.rates) {
      const s = await step(rate, options.stepSeconds, false)
      steps.push(s)
      if (!isSteady(s)) break
      best = rate
    }
    const outcome: EndToEndBench = { load: LOAD, steps, highestSteadyEventsPerSecond: best, failedHolds: [], heldEventsPerSecond: 0 }
    const candidates = steps.filter(isSteady).map((s) => s.offeredEventsPerSecond).sort((a, b) => b - a)
    for (const rate of options.holdSeconds > 0 ? candidates : []) {
      acked.length = 0
      notAccepted.length = 0
      Object.assign(memory, noPeaks())
      const held = await step(rate, options.holdSeconds, true)
      // The step ends once every sampled request (1 in 10) is stored; the worker may still be
      // writing others. Read until all acked events are there, or the count has stood still
      // for 2 s (30 s at most): only then is a missing event lost.
      const unstored = (ids: Set<string>) => {
        let missing = 0
        for (const id of acked) for (let i = 0; i < 50; i++) if (!ids.has(eventIdOf(`r${run}`, stampOf(id), i))) missing++
        return missing
      }
      let storedIds = new Set<string>()
      let lost = 0
      for (let still = 0, deadline = performance.now() + 30_000; ; ) {
        const ids = new Set((await sql`select event_id from user_activities where tenant_id = ${tenant.tenantId} and event_id like ${`r${run}-%`}`).map((r) => r.event_id as string))
        still = ids.size === storedIds.size ? still + 1 : 0
        storedIds = ids
        lost = unstored(storedIds)
        if (lost === 0 || still >= 4 || performance.now() > deadline) break
        await new Promise((r) => setTimeout(r, 500))
      }
      if (notAccepted.length > 0) log(`${notAccepted.length} acked requests did not accept all 50 events, e.g. ${notAccepted.slice(0, 3).join('; ')}`)
      const hold: Hold = { ...held, acked: acked.length * 50, stored: storedIds.size, lost, memory: { ...memory } }
      // Stored may exceed acked: requests still in flight when the load stopped were written but not counted.
      log(`held ${rate} events/s for ${options.holdSeconds} s: ${hold.acked} acked, ${storedIds.size} stored (in-flight requests included), ${lost} acked but lost`)
      log(`memory over the hold: ingest RSS ${memory.ingestPeakRssMb.toFixed(0)} MB, worker RSS ${memory.workerPeakRssMb.toFixed(0)} MB, Redis used_memory ${memory.redisPeakUsedMemoryMb.toFixed(0)} MB with at most ${memory.peakStreamEntries} stream entries`)
      if (isSteady(held)) {
        outcome.heldEventsPerSecond = rate
        outcome.hold = hold
        break
      }
      outcome.failedHolds.push(hold)
      log(`${rate} events/s was not steady for ${options.holdSeconds} s (${((100 * held.ackedEventsPerSecond) / rate).toFixed(0)} % acked, lag p99 ${held.lagP99Ms} ms); holding the next lower rate`)
    }
    if (outcome.hold || outcome.failedHolds.length > 0) {
      const counting = await countInMetrics()
      outcome.counting = counting
      log(`daily metrics count ${counting.metricsEvents} events for ${counting.storedEvents} stored rows (${counting.metricsEvents - counting.storedEvents} counted twice or, if negative, missed)`)
    }
    return outcome
  } finally {
    redis.disconnect()
    await ingest.stop()
    worker.kill('SIGTERM')
    await new Promise((r) => worker.once('exit', r))
    await sql.end()
    await close()
  }
}
