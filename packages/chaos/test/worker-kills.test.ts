import t from 'tap'
import { emptyDatabase, testRedis } from '@tributary/servers'
import { runKillScenario } from '../src/index.ts'
import { assertLedger } from './fixtures/assert-ledger.ts'

/** The short chaos run that `pnpm test` includes; `pnpm test:chaos` runs the long ones. */
t.test('workers SIGKILLed again and again during a run: every acked event stored exactly once', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const result = await runKillScenario({ databaseUrl, redisUrl, events: 10_000, tenants: 3, workers: 2, killEveryMs: 400, respawn: true, concurrency: 8 })
  t.ok(result.kills >= 2, `${result.kills} kills`)
  t.ok(result.check.rejected > 0, 'the invalid events were refused')
  assertLedger(t, result)
})

t.test('a worker killed and never restarted: its pending work is taken over', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const result = await runKillScenario({ databaseUrl, redisUrl, events: 3_000, tenants: 3, workers: 2, killEveryMs: 800, respawn: false, concurrency: 8 })
  t.equal(result.kills, 1, 'one worker killed for good')
  assertLedger(t, result)
})
