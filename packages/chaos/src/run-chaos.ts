import { emptyDatabase, testRedis } from '@tributary/servers'
import { dedicatedServers, runKillScenario, TcpProxy, type KillScenario, type ScenarioResult } from './index.ts'

/**
 * `pnpm test:chaos`: the long fault scenarios, each on a fresh database and Redis database
 * of the test servers, printed as a table (RELIABILITY.md quotes the last run).
 * CHAOS_EVENTS (default 200,000) sets the size of each run; CHAOS_ONLY=<part of a name> runs
 * only the scenarios whose name contains it.
 */
const events = Number(process.env.CHAOS_EVENTS ?? 200_000)
type Servers = Awaited<ReturnType<typeof dedicatedServers>>
type Options = Omit<KillScenario, 'databaseUrl' | 'redisUrl'>
/** Where a scenario runs: its own servers (faults on the servers themselves), or a fresh database and Redis database of the test servers. */
type Scenario =
  | { name: string; on: 'dedicated servers'; options: Options; fault: (servers: Servers) => Promise<void> }
  | { name: string; on: 'test servers'; options: (urls: { databaseUrl: string; redisUrl: string }) => Promise<Options> }

const base = { tenants: 3, killEveryMs: 0, respawn: true, concurrency: 16 }
const proxyTo = async (url: string) => {
  const proxy = await TcpProxy.to(url)
  context.teardown(() => proxy.close())
  return proxy
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const scenarios: Scenario[] = [
  { name: '3 workers, one SIGKILLed every second and restarted', on: 'test servers', options: async () => ({ ...base, events, workers: 3, killEveryMs: 1_000 }) },
  { name: '2 workers, one SIGKILLed and never restarted', on: 'test servers', options: async () => ({ ...base, events: Math.round(events / 4), workers: 2, killEveryMs: 1_500, respawn: false }) },
  { name: 'Postgres stopped for 30 s under load', on: 'dedicated servers', options: { ...base, events, workers: 2 }, fault: (s) => s.stopPostgresFor(30_000) },
  { name: 'Redis SIGKILLed under load, restarted after 5 s', on: 'dedicated servers', options: { ...base, events: Math.round(events / 2), workers: 2 }, fault: (s) => s.crashRedisFor(5_000) },
  {
    name: 'ingest↔Redis link frozen 10 s under load',
    on: 'test servers',
    options: async ({ redisUrl }) => {
      const proxy = await proxyTo(redisUrl)
      return { ...base, events: Math.round(events / 4), workers: 2, ingestRedisUrl: proxy.url(redisUrl), fault: () => proxy.freezeFor(10_000) }
    },
  },
  {
    name: 'workers↔Postgres and ↔Redis reset 20 times, then frozen 5 s',
    on: 'test servers',
    options: async ({ databaseUrl, redisUrl }) => {
      const [pg, redis] = await Promise.all([proxyTo(databaseUrl), proxyTo(redisUrl)])
      return {
        ...base,
        events,
        workers: 2,
        workerUrls: () => ({ databaseUrl: pg.url(databaseUrl), redisUrl: redis.url(redisUrl) }),
        fault: async () => {
          for (let i = 0; i < 20; i++) {
            await sleep(500)
            pg.reset()
            redis.reset()
          }
          await Promise.all([pg.freezeFor(5_000), redis.freezeFor(5_000)])
        },
      }
    },
  },
  {
    name: "one worker's Postgres link black-holed for good",
    on: 'test servers',
    options: async ({ databaseUrl }) => {
      const hole = await proxyTo(databaseUrl)
      return { ...base, events: Math.round(events / 4), workers: 2, workerUrls: (i: number) => (i === 0 ? { databaseUrl: hole.url(databaseUrl) } : {}), fault: async () => hole.freeze() }
    },
  },
  {
    name: 'rolling restart of 2 ingest processes and 2 workers, clients resend',
    on: 'test servers',
    options: async () => ({
      ...base,
      events: Math.round(events / 4),
      workers: 2,
      ingestProcesses: 2,
      retries: 3,
      fault: async (control) => {
        await control.rollIngest()
        await control.rollWorkers()
      },
    }),
  },
]

const cleanups: Array<() => unknown> = []
const context = { teardown: (fn: () => unknown) => void cleanups.push(fn) }
const rows: Array<[string, ScenarioResult]> = []
let failed = false
const only = process.env.CHAOS_ONLY
try {
  for (const scenario of scenarios) {
    if (only && !scenario.name.includes(only)) continue
    console.error(`[chaos] ${scenario.name}…`)
    let result: ScenarioResult
    if (scenario.on === 'dedicated servers') {
      const servers = await dedicatedServers()
      try {
        result = await runKillScenario({ ...scenario.options, databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, fault: () => scenario.fault(servers) })
      } finally {
        await servers.stop()
      }
    } else {
      const { url: databaseUrl } = await emptyDatabase(context)
      const { url: redisUrl } = await testRedis(context)
      result = await runKillScenario({ ...(await scenario.options({ databaseUrl, redisUrl })), databaseUrl, redisUrl })
    }
    rows.push([scenario.name, result])
    const c = result.check
    if (c.lost.length || c.duplicated || c.phantoms.length || c.rejectedButStored.length || c.deadLetters || c.counterMismatches.length) failed = true
  }
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
console.log('| scenario | sent | acked | rejected | unknown | stored | lost | duplicated | phantoms | counters off | kills | resent | p99 / max answer | drained after load in |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const [name, r] of rows) {
  const c = r.check
  const ms = (x: number) => `${Math.round(x).toLocaleString('en')} ms`
  console.log(`| ${name} | ${c.sent} | ${c.acked} | ${c.rejected} | ${c.unknown} | ${c.stored} | ${c.lost.length} | ${c.duplicated} | ${c.phantoms.length} | ${c.counterMismatches.length} | ${r.kills} | ${r.resent} | ${ms(r.latency.p99)} / ${ms(r.latency.max)} | ${r.recoverySeconds.toFixed(1)} s |`)
}
console.log(failed ? '0 passed, 1 failed' : `${rows.length} passed, 0 failed`)
process.exit(failed ? 1 : 0)
