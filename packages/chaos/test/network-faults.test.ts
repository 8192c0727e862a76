import t from 'tap'
import { emptyDatabase, testRedis } from '@tributary/servers'
import { runKillScenario, TcpProxy } from '../src/index.ts'
import { assertLedger } from './fixtures/assert-ledger.ts'

/** The load every scenario here runs under: three tenants, two workers, no kills. */
const steady = { tenants: 3, workers: 2, killEveryMs: 0, respawn: true, concurrency: 8 }

t.test('ingest↔Redis link frozen for 6 s under load: 503s within the command timeout while it lasts, nothing acked is lost or doubled', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const proxy = await TcpProxy.to(redisUrl)
  t.teardown(() => proxy.close())
  const result = await runKillScenario({ databaseUrl, redisUrl, ingestRedisUrl: proxy.url(redisUrl), ...steady, events: 6_000, fault: () => proxy.freezeFor(6_000) })
  assertLedger(t, result)
  t.ok(result.check.unknown > 0, `${result.check.unknown} events answered 503 during the stall`)
  // Ingest gives up on a silent Redis after its command timeout (2 s), long before the link comes back.
  t.ok(result.latency.max < 5_000, `slowest answer ${Math.round(result.latency.max)} ms, within a 6 s stall`)
})

// Found by this scenario: a connection reset inside a transaction crashed the worker (postgres.js
// porsager/postgres#1154); patches/postgres@3.4.9.patch fixes it, postgres-driver-resets.test.ts proves it alone.
t.test('workers↔Postgres and workers↔Redis connections reset again and again, then frozen: the workers recover by themselves', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const pg = await TcpProxy.to(databaseUrl)
  const redis = await TcpProxy.to(redisUrl)
  t.teardown(() => Promise.all([pg.close(), redis.close()]))
  const result = await runKillScenario({
    databaseUrl,
    redisUrl,
    workerUrls: () => ({ databaseUrl: pg.url(databaseUrl), redisUrl: redis.url(redisUrl) }),
    events: 12_000,
    ...steady,
    fault: async () => {
      // Resets while batches are in flight: a COMMIT whose answer never arrives, an XACK
      // lost, a blocking read cut after Redis delivered its entries.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 250))
        pg.reset()
        redis.reset()
      }
      await Promise.all([pg.freezeFor(3_000), redis.freezeFor(2_000)])
    },
  })
  assertLedger(t, result)
  t.ok(pg.stats.resets > 0 && redis.stats.resets > 0, `${pg.stats.resets} Postgres and ${redis.stats.resets} Redis connections reset`)
})

// Found by this scenario: the cut-off worker's transactions kept their row locks (Postgres sees a slow
// client, not a dead one), so the peer that took its entries over waited on them for ever. Peers now
// end such transactions after TRANSACTION_IDLE_TIMEOUT_MS (apps/worker/src/persist/stuck-writers.ts).
t.test('one worker cut off from Postgres for good (a black hole): its peer takes its entries over', async (t) => {
  const { url: databaseUrl } = await emptyDatabase(t)
  const { url: redisUrl } = await testRedis(t)
  const hole = await TcpProxy.to(databaseUrl)
  t.teardown(() => hole.close())
  let exited = false
  let exitSeconds = 0
  const result = await runKillScenario({
    databaseUrl,
    redisUrl,
    workerUrls: (i) => (i === 0 ? { databaseUrl: hole.url(databaseUrl) } : {}),
    // Short timeouts, so the cut-off worker's hung-write watchdog (4 × 1.5 s + 2 s) fires within the test.
    workerEnv: { STATEMENT_TIMEOUT_MS: '1500', TRANSACTION_IDLE_TIMEOUT_MS: '2000' },
    events: 4_000,
    ...steady,
    fault: async (control) => {
      hole.freeze()
      const frozenAt = performance.now()
      // The watchdog fires ~8 s after the worker's first write into the hole began. Waiting
      // for the exit itself, not a fixed 12 s: on a loaded CI machine the exit once came
      // later than that, after the scenario had stopped counting exits. The load keeps
      // flowing to the peer meanwhile.
      exited = await control.selfExit('chaos-w0', 45_000)
      exitSeconds = (performance.now() - frozenAt) / 1000
    },
  })
  assertLedger(t, result, { selfExits: ['chaos-w0'] })
  t.ok(exited, `the cut-off worker exited by itself ${exitSeconds.toFixed(1)} s after the link froze (45 s allowed)`)
  t.same(result.selfExits, [{ name: 'chaos-w0', code: 1 }], 'the cut-off worker gave up on its dead connection and exited (1) for a restart')
  t.comment(`drained ${result.recoverySeconds.toFixed(1)} s after the load ended`)
})
