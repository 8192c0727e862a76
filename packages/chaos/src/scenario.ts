import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import postgres from 'postgres'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { buildApp } from '@tributary/ingest'
import { loadIngestConfig } from '@tributary/ingest/config'
import { freePort } from '@tributary/servers'
import { allStreamKeys, deadLetterKey, groupPosition } from '@tributary/shared'
import { checkLedger, Ledger, type LedgerCheck } from './ledger.ts'

const WORKER_MAIN = fileURLToPath(new URL('../../../apps/worker/src/main.ts', import.meta.url))
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
  /** Another fault, started once a third of the events are sent (stop Postgres, restart Redis…). */
  fault?: () => Promise<void>
}

export interface ScenarioResult {
  check: LedgerCheck
  kills: number
  loadSeconds: number
  recoverySeconds: number
}

function startWorker(name: string, env: Record<string, string>): ChildProcess {
  return fork(WORKER_MAIN, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env, WORKER_NAME: name }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
}

/**
 * Load over several tenants through a real ingest API while workers are SIGKILLed; then the
 * pipeline drains and the ledger is checked (see ledger.ts).
 */
export async function runKillScenario(s: KillScenario): Promise<ScenarioResult> {
  await runMigrations(s.databaseUrl)
  const { db, close } = createDatabase(s.databaseUrl, { applicationName: 'chaos', maxConnections: 2 })
  const tenants = await Promise.all(Array.from({ length: s.tenants }, (_, i) => createTenant(db, `chaos-${i}-${Date.now()}`)))
  await close()
  const config = loadIngestConfig({ DATABASE_URL: s.databaseUrl, REDIS_URL: s.redisUrl, STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent', RATE_LIMIT_EVENTS_PER_SECOND: '0', STREAM_BACKLOG_CAP: '0' })
  const app = await buildApp({ config, logger: pino({ level: 'silent' }) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/v2/analytics/events`

  const workerEnv = { DATABASE_URL: s.databaseUrl, REDIS_URL: s.redisUrl, STREAM_SHARDS: String(SHARDS), LOG_LEVEL: 'silent', CLAIM_IDLE_MS: '2000', BATCH_MAX_WAIT_MS: '50', READ_BLOCK_MS: '500' }
  const workers = new Map<string, ChildProcess>()
  for (let i = 0; i < s.workers; i++) workers.set(`chaos-w${i}`, startWorker(`chaos-w${i}`, { ...workerEnv, WORKER_PORT: String(await freePort()) }))

  const ledger = new Ledger()
  let next = 0
  let kills = 0
  let loading = true
  const killer = (async () => {
    while (loading && s.killEveryMs > 0) {
      await new Promise((r) => setTimeout(r, s.respawn ? s.killEveryMs : 50))
      if (!loading) break
      // Without respawn: one kill, a third of the way into the load, so work is in flight.
      if (!s.respawn && next < s.events / 3) continue
      const alive = [...workers].filter(([, c]) => c.exitCode === null && c.signalCode === null)
      if (alive.length <= (s.respawn ? 0 : 1)) continue
      const [name, child] = alive[Math.floor(Math.random() * alive.length)]!
      child.kill('SIGKILL')
      kills++
      if (s.respawn) {
        await new Promise((r) => setTimeout(r, 300))
        workers.set(name, startWorker(name, { ...workerEnv, WORKER_PORT: String(await freePort()) }))
      } else {
        workers.delete(name)
      }
    }
  })()

  const started = performance.now()
  const batch = 20
  const fault = (async () => {
    if (!s.fault) return
    while (next < s.events / 3) await new Promise((r) => setTimeout(r, 20))
    await s.fault()
  })()
  async function sender() {
    while (next < s.events) {
      const first = next
      next += batch
      const tenant = tenants[(first / batch) % tenants.length]!
      const ids = Array.from({ length: Math.min(batch, s.events - first) }, (_, i) => `c-${first + i}`)
      // One request in ten carries an event without any identity: it must be refused and never stored.
      const events = ids.map((id, i) => (first % (batch * 10) === 0 && i === 0 ? { eventId: id, type: 'pageview', page: '/' } : { eventId: id, type: i % 2 ? 'action' : 'pageview', action: 'a', page: '/p', anonymousId: `v${first % 101}` }))
      try {
        const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ events }), signal: AbortSignal.timeout(10_000) })
        const body = (await res.json().catch(() => ({}))) as { errors?: Array<{ index: number }> }
        ledger.record(tenant.tenantId, ids, { status: res.status, errorIndexes: body.errors?.map((e) => e.index) })
      } catch {
        ledger.record(tenant.tenantId, ids, {})
      }
    }
  }
  await Promise.all(Array.from({ length: s.concurrency }, sender))
  await fault
  const loadSeconds = (performance.now() - started) / 1000
  loading = false
  await killer
  // A killed worker stays dead only in the no-respawn scenario; make sure at least one runs.
  if ([...workers.values()].every((c) => c.exitCode !== null || c.signalCode !== null)) workers.set('chaos-last', startWorker('chaos-last', { ...workerEnv, WORKER_PORT: String(await freePort()) }))

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
    await new Promise((r) => setTimeout(r, 200))
  }
  const recoverySeconds = (performance.now() - drainStarted) / 1000
  let deadLetters = 0
  for (let shard = 0; shard < SHARDS; shard++) deadLetters += await redis.xlen(deadLetterKey(shard))
  const sql = postgres(s.databaseUrl, { max: 1, onnotice: () => {} })
  const stored = (await sql`select tenant_id, event_id from user_activities`).map((r) => ({ tenantId: r.tenant_id as string, eventId: r.event_id as string }))
  await sql.end()
  redis.disconnect()
  for (const child of workers.values()) child.kill('SIGTERM')
  await Promise.all([...workers.values()].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))))
  await app.close()
  return { check: checkLedger(ledger, stored, deadLetters), kills, loadSeconds, recoverySeconds }
}
