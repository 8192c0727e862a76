import t from 'tap'
import { dedicatedServers, runKillScenario } from '../src/index.ts'

t.test('Postgres stopped for 3 s under load: every acked event stored once, nothing dead-lettered', async (t) => {
  const servers = await dedicatedServers()
  t.teardown(() => servers.stop())
  const result = await runKillScenario({ databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, events: 4_000, tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 8, fault: () => servers.stopPostgresFor(3_000) })
  const { check } = result
  t.ok(check.acked > 0, `${check.acked} acked, ${check.unknown} unknown`)
  t.same(check.lost, [], 'no acknowledged event lost')
  t.equal(check.duplicated, 0)
  t.same(check.phantoms, [])
  t.equal(check.deadLetters, 0, 'an outage is never a reason to dead-letter')
})

t.test('Redis killed (SIGKILL) and restarted under load: with appendfsync always, no acked event lost', async (t) => {
  const servers = await dedicatedServers()
  t.teardown(() => servers.stop())
  const result = await runKillScenario({ databaseUrl: servers.databaseUrl, redisUrl: servers.redisUrl, events: 4_000, tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 8, fault: () => servers.crashRedisFor(1_000) })
  const { check } = result
  t.ok(check.acked > 0, `${check.acked} acked, ${check.unknown} unknown (503s while Redis was down)`)
  t.same(check.lost, [], 'no acknowledged event lost')
  t.equal(check.duplicated, 0)
  t.same(check.phantoms, [])
  t.equal(check.deadLetters, 0)
})
