import { emptyDatabase, testRedis } from '@tributary/servers'
import { dedicatedServers, runKillScenario, type KillScenario, type ScenarioResult } from './index.ts'

/**
 * `pnpm test:chaos`: the long fault scenarios, each on a fresh database and Redis database
 * of the test servers, printed as a table (RELIABILITY.md quotes the last run).
 * CHAOS_EVENTS (default 200,000) sets the size of each run.
 */
const events = Number(process.env.CHAOS_EVENTS ?? 200_000)
type Servers = Awaited<ReturnType<typeof dedicatedServers>>
const scenarios: Array<[string, Omit<KillScenario, 'databaseUrl' | 'redisUrl' | 'fault'>, ((servers: Servers) => Promise<void>)?]> = [
  ['3 workers, one SIGKILLed every second and restarted', { events, tenants: 3, workers: 3, killEveryMs: 1_000, respawn: true, concurrency: 16 }],
  ['2 workers, one SIGKILLed and never restarted', { events: Math.round(events / 4), tenants: 3, workers: 2, killEveryMs: 1_500, respawn: false, concurrency: 16 }],
  ['Postgres stopped for 30 s under load', { events, tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 16 }, (s) => s.stopPostgresFor(30_000)],
  ['Redis SIGKILLed under load, restarted after 5 s', { events: Math.round(events / 2), tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 16 }, (s) => s.crashRedisFor(5_000)],
]

const cleanups: Array<() => unknown> = []
const context = { teardown: (fn: () => unknown) => void cleanups.push(fn) }
const rows: Array<[string, ScenarioResult]> = []
let failed = false
try {
  for (const [name, scenario, fault] of scenarios) {
    console.error(`[chaos] ${name}…`)
    let result: ScenarioResult
    if (fault) {
      // Faults on the servers themselves need servers of the scenario's own.
      const servers = await dedicatedServers()
      try {
        result = await runKillScenario({ ...scenario, databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, fault: () => fault(servers) })
      } finally {
        await servers.stop()
      }
    } else {
      const { url: databaseUrl } = await emptyDatabase(context)
      const { url: redisUrl } = await testRedis(context)
      result = await runKillScenario({ ...scenario, databaseUrl, redisUrl })
    }
    rows.push([name, result])
    const c = result.check
    if (c.lost.length || c.duplicated || c.phantoms.length || c.rejectedButStored.length || c.deadLetters) failed = true
  }
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
console.log('| scenario | sent | acked | rejected | unknown | stored | lost | duplicated | phantoms | kills | recovery |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const [name, r] of rows) {
  const c = r.check
  console.log(`| ${name} | ${c.sent} | ${c.acked} | ${c.rejected} | ${c.unknown} | ${c.stored} | ${c.lost.length} | ${c.duplicated} | ${c.phantoms.length} | ${r.kills} | ${r.recoverySeconds.toFixed(1)} s |`)
}
console.log(failed ? '0 passed, 1 failed' : `${rows.length} passed, 0 failed`)
process.exit(failed ? 1 : 0)
