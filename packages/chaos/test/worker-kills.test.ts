import t from 'tap'
import { emptyDatabase, testRedis } from '@tributary/servers'
import { runKillScenario } from '../src/index.ts'

/** The short chaos run that `pnpm test` includes; `pnpm test:chaos` runs the long ones. */
t.test('workers SIGKILLed again and again during a run: every acked event stored exactly once', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const result = await runKillScenario({ databaseUrl, redisUrl, events: 6_000, tenants: 3, workers: 2, killEveryMs: 700, respawn: true, concurrency: 8 })
  const { check } = result
  t.ok(result.kills >= 2, `${result.kills} kills`)
  t.ok(check.acked > 0 && check.rejected > 0, `${check.acked} acked, ${check.rejected} rejected, ${check.unknown} unknown`)
  t.same(check.lost, [], 'no acknowledged event lost')
  t.equal(check.duplicated, 0, 'none stored twice')
  t.same(check.phantoms, [], 'no row that was never sent')
  t.same(check.rejectedButStored, [], 'no rejected event stored')
  t.equal(check.deadLetters, 0, 'nothing dead-lettered')
})

t.test('a worker killed and never restarted: its pending work is taken over', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const result = await runKillScenario({ databaseUrl, redisUrl, events: 3_000, tenants: 3, workers: 2, killEveryMs: 800, respawn: false, concurrency: 8 })
  t.equal(result.kills, 1, 'one worker killed for good')
  t.same(result.check.lost, [])
  t.equal(result.check.duplicated, 0)
  t.same(result.check.phantoms, [])
})
