import t from 'tap'
import { emptyDatabase, testRedis } from '@tributary/servers'
import { runKillScenario } from '../src/index.ts'
import { assertLedger } from './fixtures/assert-ledger.ts'

t.test('rolling restart of two ingest processes and two workers under load: clients that resend lose nothing', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  let rolled = 0
  const result = await runKillScenario({
    databaseUrl,
    redisUrl,
    ingestProcesses: 2,
    retries: 3,
    events: 8_000,
    tenants: 3,
    workers: 2,
    killEveryMs: 0,
    respawn: true,
    concurrency: 8,
    fault: async (control) => {
      rolled += await control.rollIngest()
      rolled += await control.rollWorkers()
    },
  })
  assertLedger(t, result)
  t.equal(rolled, 4, 'every process restarted once')
  t.equal(result.check.unknown, 0, `every request answered in the end (${result.resent} resent)`)
})
