import t from 'tap'
import { createDatabase } from '@tributary/db'
import { emptyDatabase } from '@tributary/servers'
import { dedicatedServers, TcpProxy } from '../src/index.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Settles with 'hung' when the promise has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<'ok' | 'failed' | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'hung'>((resolve) => (timer = setTimeout(resolve, ms, 'hung')))
  try {
    return await Promise.race([p.then(() => 'ok' as const, () => 'failed' as const), deadline])
  } finally {
    clearTimeout(timer)
  }
}

// postgres.js 3.4.9 crashes the process when a connection resets inside a transaction: begin()
// sends its own ROLLBACK after closed() has nulled the socket, from a setImmediate nobody can catch
// (porsager/postgres#1154, #1208). patches/postgres@3.4.9.patch fixes it; this test proves the fix
// with the driver the worker uses, through a proxy that resets every connection again and again.
t.test('connections reset in the middle of transactions: each transaction settles, nothing crashes, the pool recovers', async (t) => {
  const { url } = await emptyDatabase(t)
  const proxy = await TcpProxy.to(url)
  t.teardown(() => proxy.close())
  const database = createDatabase(proxy.url(url), { applicationName: 'tributary-test-resets', maxConnections: 4 })

  const outcomes = { ok: 0, failed: 0, hung: 0 }
  let resetting = true
  const transactions = async () => {
    while (resetting) {
      const outcome = await within(
        // What Drizzle's db.transaction() runs underneath, as the worker's writeBatch does.
        database.sql.begin(async (tx) => {
          await tx`select 1`
          await tx`select pg_sleep(0.005)`
          await tx`select 2`
        }),
        10_000,
      )
      outcomes[outcome]++
      if (outcome === 'hung') return
    }
  }
  const clients = Array.from({ length: 8 }, transactions)
  for (let i = 0; i < 30; i++) {
    await sleep(40 + (i % 7) * 13)
    proxy.reset()
  }
  resetting = false
  await Promise.all(clients)

  t.equal(outcomes.hung, 0, `no transaction hung (${outcomes.ok} committed, ${outcomes.failed} failed on a reset)`)
  t.ok(outcomes.failed > 0, `${outcomes.failed} transactions were cut by a reset (${proxy.stats.resets} connections reset)`)
  // Every connection of the pool works again once the resets stop.
  const after = await Promise.all(Array.from({ length: 8 }, () => within(database.sql`select pg_sleep(0.05)`.execute(), 10_000)))
  t.same(after, Array(8).fill('ok'), 'every connection of the pool answers after the resets')
  t.equal(await within(database.close(), 8_000), 'ok', 'the pool ends')
})

t.test('after Postgres has been down for a while, the pool answers within a second or two of its return', async (t) => {
  const servers = await dedicatedServers()
  t.teardown(() => servers.stop())
  const database = createDatabase(servers.databaseUrl, { applicationName: 'tributary-test-outage', maxConnections: 4 })
  t.teardown(() => database.close())
  await database.sql`select 1`
  let back = 0
  const outage = servers.stopPostgresFor(6_000).then(() => (back = performance.now()))
  // Queries keep failing during the outage, as ingest's key checks and the worker's writes do.
  let refused = 0
  while (!back) {
    await within(database.sql`select 1`.execute(), 10_000).then((o) => o === 'failed' && refused++)
    await sleep(200)
  }
  await outage
  t.ok(refused > 10, `${refused} queries refused while Postgres was down`)
  for (;;) {
    if ((await within(database.sql`select 1`.execute(), 30_000)) === 'ok') break
    await sleep(50)
  }
  const waited = performance.now() - back
  // postgres.js's default backoff made this 10–20 s.
  t.ok(waited < 3_000, `first answer ${Math.round(waited)} ms after Postgres was back`)
})
