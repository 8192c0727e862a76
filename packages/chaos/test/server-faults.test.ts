import t from 'tap'
import { dedicatedServers, runKillScenario } from '../src/index.ts'
import { assertLedger } from './fixtures/assert-ledger.ts'

t.test('Postgres stopped for 3 s under load: every acked event stored once, nothing dead-lettered', async (t) => {
  const servers = await dedicatedServers()
  t.teardown(() => servers.stop())
  const result = await runKillScenario({ databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, events: 4_000, tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 8, fault: () => servers.stopPostgresFor(3_000) })
  assertLedger(t, result)
})

t.test('Redis killed (SIGKILL) and restarted under load: with appendfsync always, no acked event lost', async (t) => {
  const servers = await dedicatedServers()
  t.teardown(() => servers.stop())
  const result = await runKillScenario({ databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, events: 4_000, tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 8, fault: () => servers.crashRedisFor(1_000) })
  assertLedger(t, result)
  t.ok(result.check.unknown > 0, 'requests were refused (503) while Redis was down')
})
