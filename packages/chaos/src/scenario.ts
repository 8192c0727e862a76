import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import postgres from 'postgres'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { buildApp } from '@tributary/ingest'
import { loadIngestConfig } from '@tributary/ingest/config'
import { freePort, percentile, waitUntilReady } from '@tributary/servers'
import { allStreamKeys, deadLetterKey, groupPosition, realtimeKeys, shardFor } from '@tributary/shared'
import { checkLedger, Ledger, type LedgerCheck } from './ledger.ts'

const WORKER_MAIN = fileURLToPath(new URL('../../../apps/worker/src/main.ts', import.meta.url))
const INGEST_SERVER = fileURLToPath(new URL('../../../apps/ingest/src/server.ts', import.meta.url))
const SHARDS = 4

export interface KillScenario {
  databaseUrl: string
  redisUrl: string
  events: number
  tenants: number
  workers: number
  /** SIGKILL a random worker this often while the load runs (0: never). */
  killEveryMs: number
  /** Workers killed stay dead (their entries must be taken over by the others). */
  respawn: boolean
  concurrency: number
  /** Where ingest connects to Redis, when not straight to it (through a TcpProxy, say). */
  ingestRedisUrl?: string
  /** More environment for every worker (shorter timeouts, say). */
  workerEnv?: Record<string, string>
  /** Where worker number `index` connects, when not straight to the servers. */
  workerUrls?: (index: number) => { redisUrl?: string; databaseUrl?: string }
  /** Ingest as this many server processes of its own (for rolling restarts); default: one app in this process. */
  ingestProcesses?: number
  /**
   * How many times a client resends a request answered 5xx or not answered — the same
   * events, same ids, to the next ingest — as SDKs do. Default 0: the first outcome counts.
   */
  retries?: number
  /** Another fault, started once a third of the events are sent (stop Postgres, restart Redis…). */
  fault?: (control: ScenarioControl) => Promise<void>
}

/** What a fault can do to the scenario's own processes. */
export interface ScenarioControl {
  /** Restarts every ingest process in turn (SIGTERM, wait for exit, start, wait until ready); returns how many. */
  rollIngest(): Promise<number>
  /** Restarts every worker in turn (SIGTERM, wait for exit, start under the same name). */
  rollWorkers(): Promise<number>
  /**
   * Waits until the worker named `name` exits by itself (not killed or stopped by the
   * scenario), at most `withinMs`; says whether it did. A fault that must outlast a
   * worker's own timeout waits for it this way rather than for a fixed time, which a
   * loaded machine can overrun.
   */
  selfExit(name: string, withinMs: number): Promise<boolean>
}

export interface ScenarioResult {
  check: LedgerCheck
  kills: number
  restarts: number
  loadSeconds: number
  recoverySeconds: number
  /** Request latency as the load generator saw it (each attempt), in ms. */
  latency: { p50: number; p99: number; max: number }
  /** Requests sent again after a 5xx or no answer. */
  resent: number
  /** Workers that exited by themselves (not killed or stopped by the scenario), with their exit code. */
  selfExits: Array<{ name: string; code: number | null }>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null
const exited = (c: ChildProcess) => (alive(c) ? new Promise((r) => c.once('exit', r)) : Promise.resolve())

function startWorker(name: string, env: Record<string, string>): ChildProcess {
  return fork(WORKER_MAIN, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env, WORKER_NAME: name }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
}

/** Waits for a child's /readyz; SIGKILLs it if it never gets there. */
async function waitReady(child: ChildProcess, port: number, what: string) {
  try {
    await waitUntilReady(what, port, 30_000, () => (alive(child) ? undefined : `exited (${child.exitCode ?? child.signalCode})`))
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}

async function startIngest(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(INGEST_SERVER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  await waitReady(child, port, 'ingest')
  return child
}

/** Events counted by the real-time counters (events per minute, last hour) of each tenant. */
async function realtimeCounts(redis: Redis, tenantIds: string[]): Promise<Map<string, number>> {
  const counted = new Map<string, number>()
  const now = Math.floor(Date.now() / 60_000)
  for (const tenantId of tenantIds) {
    const keys = realtimeKeys(tenantId, shardFor(tenantId, SHARDS))
    const values = await redis.mget(...Array.from({ length: 60 }, (_, i) => keys.eventsInMinute(now - i)))
    counted.set(tenantId, values.reduce((sum, v) => sum + Number(v ?? 0), 0))
  }
  return counted
}

/**
 * Load over several tenants through a real ingest API while workers are SIGKILLed (and
 * whatever `fault` does); then the pipeline drains and the ledger is checked (ledger.ts),
 * real-time counters included.
 */
export async function runKillScenario(s: KillScenario): Promise<ScenarioResult> {
  await runMigrations(s.databaseUrl)
  const { db, close } = createDatabase(s.databaseUrl, { applicationName: 'chaos', maxConnections: 2 })
  const tenants = await Promise.all(Array.from({ length: s.tenants }, (_, i) => createTenant(db, `chaos-${i}-${Date.now()}`)))
  await close()

  const ingestEnv = { DATABASE_URL: s.databaseUrl, REDIS_URL: s.ingestRedisUrl ?? s.redisUrl, STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent', RATE_LIMIT_EVENTS_PER_SECOND: '0', STREAM_BACKLOG_CAP: '0' }
  const ingests = new Map<number, ChildProcess>()
  let app: Awaited<ReturnType<typeof buildApp>> | undefined
  const urls: string[] = []
  if (s.ingestProcesses) {
    for (let i = 0; i < s.ingestProcesses; i++) {
      const port = await freePort()
      ingests.set(port, await startIngest(port, ingestEnv))
      urls.push(`http://127.0.0.1:${port}/api/v2/analytics/events`)
    }
  } else {
    app = await buildApp({ config: loadIngestConfig(ingestEnv), logger: pino({ level: 'silent' }) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    urls.push(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/v2/analytics/events`)
  }

  const workerEnv = { STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent', CLAIM_IDLE_MS: '2000', BATCH_MAX_WAIT_MS: '50', READ_BLOCK_MS: '500', ...s.workerEnv }
  const selfExits: ScenarioResult['selfExits'] = []
  /** Workers the scenario stopped itself (rolling restart), and whether it is stopping everything. */
  const asked = new Set<ChildProcess>()
  let finishing = false
  /** selfExit() calls waiting, by worker name. */
  const exitWaiters = new Map<string, () => void>()
  /** Worker processes by consumer name; `index` picks its URLs (workerUrls), `port` its health server. */
  const workers = new Map<string, { child: ChildProcess; index: number; port: number }>()
  async function spawnWorker(name: string, index: number) {
    const own = s.workerUrls?.(index) ?? {}
    const port = await freePort()
    const child = startWorker(name, { ...workerEnv, DATABASE_URL: own.databaseUrl ?? s.databaseUrl, REDIS_URL: own.redisUrl ?? s.redisUrl, WORKER_PORT: String(port) })
    // Exits the scenario causes are signals (SIGKILL, SIGTERM); a worker giving up exits with a code.
    child.once('exit', (code, signal) => {
      if (signal === null && !finishing && !asked.has(child)) {
        selfExits.push({ name, code })
        exitWaiters.get(name)?.()
      }
    })
    workers.set(name, { child, index, port })
  }
  for (let i = 0; i < s.workers; i++) await spawnWorker(`chaos-w${i}`, i)
  // Load starts once every worker consumes, so faults land on work in flight.
  await Promise.all([...workers].map(([name, w]) => waitReady(w.child, w.port, name)))

  const ledger = new Ledger()
  let next = 0
  let kills = 0
  let restarts = 0
  let loading = true
  const killer = (async () => {
    while (loading && s.killEveryMs > 0) {
      await sleep(s.respawn ? s.killEveryMs : 50)
      if (!loading) break
      // Without respawn: one kill, a third of the way into the load, so work is in flight.
      if (!s.respawn && next < s.events / 3) continue
      const running = [...workers].filter(([, w]) => alive(w.child))
      if (running.length <= (s.respawn ? 0 : 1)) continue
      const [name, { child, index }] = running[Math.floor(Math.random() * running.length)]!
      child.kill('SIGKILL')
      kills++
      if (s.respawn) {
        await sleep(300)
        await spawnWorker(name, index)
      } else {
        workers.delete(name)
      }
    }
  })()

  const control: ScenarioControl = {
    async rollIngest() {
      for (const [port, child] of ingests) {
        child.kill('SIGTERM')
        await exited(child)
        ingests.set(port, await startIngest(port, ingestEnv))
        restarts++
      }
      return ingests.size
    },
    async rollWorkers() {
      for (const [name, { child, index }] of workers) {
        asked.add(child)
        child.kill('SIGTERM')
        await exited(child)
        await spawnWorker(name, index)
        restarts++
        await sleep(500)
      }
      return workers.size
    },
    async selfExit(name, withinMs) {
      if (selfExits.some((e) => e.name === name)) return true
      let timer: NodeJS.Timeout | undefined
      const exitedInTime = await Promise.race([
        new Promise<boolean>((resolve) => exitWaiters.set(name, () => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), withinMs))),
      ])
      clearTimeout(timer)
      exitWaiters.delete(name)
      return exitedInTime
    },
  }

  const started = performance.now()
  const batch = 20
  const fault = (async () => {
    if (!s.fault) return
    while (next < s.events / 3) await sleep(20)
    await s.fault(control)
  })()
  const latencies: number[] = []
  let resent = 0
  let turn = 0
  async function post(url: string, writeKey: string, body: string): Promise<{ status?: number; errorIndexes?: number[] }> {
    const t0 = performance.now()
    try {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(20_000) })
      const reply = (await res.json().catch(() => ({}))) as { errors?: Array<{ index: number }> }
      return { status: res.status, errorIndexes: reply.errors?.map((e) => e.index) }
    } catch {
      return {}
    } finally {
      latencies.push(performance.now() - t0)
    }
  }
  async function sender() {
    while (next < s.events) {
      const first = next
      next += batch
      const tenant = tenants[(first / batch) % tenants.length]!
      const ids = Array.from({ length: Math.min(batch, s.events - first) }, (_, i) => `c-${first + i}`)
      // One request in ten carries an event without any identity: it must be refused and never stored.
      const events = ids.map((id, i) => (first % (batch * 10) === 0 && i === 0 ? { eventId: id, type: 'pageview', page: '/' } : { eventId: id, type: i % 2 ? 'action' : 'pageview', action: 'a', page: '/p', anonymousId: `v${first % 101}` }))
      const body = JSON.stringify({ events })
      // Requests go round the ingest processes; a resend goes to the next one after the one
      // that failed, as a load balancer takes a failing instance out of rotation.
      const target = turn++
      let outcome = await post(urls[target % urls.length]!, tenant.writeKey, body)
      for (let attempt = 1; attempt <= (s.retries ?? 0) && (outcome.status === undefined || outcome.status >= 500); attempt++) {
        resent++
        await sleep(100 * attempt)
        outcome = await post(urls[(target + attempt) % urls.length]!, tenant.writeKey, body)
      }
      ledger.record(tenant.tenantId, ids, outcome)
    }
  }
  await Promise.all(Array.from({ length: s.concurrency }, sender))
  await fault
  const loadSeconds = (performance.now() - started) / 1000
  loading = false
  await killer
  // A killed worker stays dead only in the no-respawn scenario; make sure at least one runs.
  if ([...workers.values()].every((w) => !alive(w.child))) await spawnWorker('chaos-last', 0)

  const redis = new Redis(s.redisUrl)
  const drainStarted = performance.now()
  for (;;) {
    let busy = 0
    for (const stream of allStreamKeys(SHARDS)) {
      const p = await groupPosition(redis, stream)
      busy += p.undelivered + p.pending
    }
    if (busy === 0) break
    if (performance.now() - drainStarted > 120_000) break
    await sleep(200)
  }
  const recoverySeconds = (performance.now() - drainStarted) / 1000
  let deadLetters = 0
  for (let shard = 0; shard < SHARDS; shard++) deadLetters += await redis.xlen(deadLetterKey(shard))
  const counted = await realtimeCounts(redis, tenants.map((t) => t.tenantId))
  const sql = postgres(s.databaseUrl, { max: 1, onnotice: () => {} })
  const stored = (await sql`select tenant_id, event_id from user_activities`).map((r) => ({ tenantId: r.tenant_id as string, eventId: r.event_id as string }))
  await sql.end()
  redis.disconnect()
  const children = [...[...workers.values()].map((w) => w.child), ...ingests.values()]
  finishing = true
  for (const child of children) child.kill('SIGTERM')
  // A worker cut off from Postgres cannot finish its batch and would wait out its 30 s shutdown timeout.
  const impatient = setTimeout(() => children.filter(alive).forEach((c) => c.kill('SIGKILL')), 10_000)
  await Promise.all(children.map(exited))
  clearTimeout(impatient)
  await app?.close()
  latencies.sort((a, b) => a - b)
  return {
    check: checkLedger(ledger, stored, deadLetters, counted),
    kills,
    restarts,
    loadSeconds,
    recoverySeconds,
    latency: { p50: percentile(latencies, 50) ?? 0, p99: percentile(latencies, 99) ?? 0, max: latencies.at(-1) ?? 0 },
    resent,
    selfExits,
  }
}
