import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { freePort, isAlive, isPortFree } from '@tributary/servers'
import { runScript, scratchStateDir } from './fixtures/run.ts'

async function get(url: string) {
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as unknown }
}

/** A readiness answer once it is 200 (throws before, for retry()). */
async function ready(url: string) {
  const answer = await get(url)
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status}`)
  return answer
}

t.test('pnpm start: local stack, migrations, demo keys, both apps; SIGINT leaves nothing running', async (t) => {
  const stateDir = scratchStateDir(t)
  const ports = { redis: await freePort(), postgres: await freePort(), ingest: await freePort(), worker: await freePort() }
  const env = {
    TRIBUTARY_STATE_DIR: stateDir,
    TRIBUTARY_REDIS_PORT: String(ports.redis),
    TRIBUTARY_POSTGRES_PORT: String(ports.postgres),
    PORT: String(ports.ingest),
    WORKER_PORT: String(ports.worker),
    DATABASE_URL: '',
    REDIS_URL: '',
    LOG_LEVEL: 'warn',
  }
  const first = runScript('infra/src/start.ts', [], env)
  t.teardown(() => void first.child.kill('SIGKILL'))
  await first.waitFor(/Ctrl-C stops everything/)
  const writeKey = /write key\s+(wk_\w+)/.exec(first.output())?.[1]
  const readKey = /read key\s+(rk_\w+)/.exec(first.output())?.[1]
  t.ok(writeKey && readKey, 'prints the demo write and read keys')
  t.match(first.output(), new RegExp(`curl -sS -X POST http://127.0.0.1:${ports.ingest}/api/v2/analytics/events`), 'with a curl to paste')

  // Polled until ready: the worker answers 503 until its first read from the streams.
  await t.resolveMatch(retry(() => ready(`http://127.0.0.1:${ports.ingest}/readyz`)), { status: 200, body: { ready: true } })
  await t.resolveMatch(retry(() => ready(`http://127.0.0.1:${ports.worker}/readyz`)), { status: 200, body: { ready: true } })

  const state = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as { redis: { pid: number }; postgres: { pid: number } }
  first.child.kill('SIGINT')
  t.equal(await first.exited, 0, 'exits 0 after Ctrl-C')
  t.match(first.output(), /stopped/)
  t.notOk(isAlive(state.redis.pid), 'redis stopped')
  t.notOk(isAlive(state.postgres.pid), 'postgres stopped')
  for (const [name, port] of Object.entries(ports)) t.ok(await isPortFree(port), `${name} port ${port} released`)

  // A second start reuses the data: same tenant, same keys printed again.
  const second = runScript('infra/src/start.ts', [], env)
  t.teardown(() => void second.child.kill('SIGKILL'))
  await second.waitFor(/Ctrl-C stops everything/)
  t.match(second.output(), new RegExp(`write key\\s+${writeKey}`), 'the same demo keys')
  // Ctrl-C twice: the second is passed on (the apps then exit at once), and the servers still stop cleanly.
  second.child.kill('SIGINT')
  await second.waitFor(/Ctrl-C again to stop them at once/)
  second.child.kill('SIGINT')
  t.equal(await second.exited, 0)
  t.match(second.output(), /stopping the apps at once/, 'the second Ctrl-C is heard')
  t.match(second.output(), /stopped/)
  for (const [name, port] of Object.entries(ports)) t.ok(await isPortFree(port), `${name} port ${port} released again`)
})

async function retry<T>(fn: () => Promise<T>, attempts = 100): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn()
    } catch (err) {
      if (i >= attempts) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

t.test('pnpm start with DATABASE_URL and REDIS_URL set starts no servers of its own', async (t) => {
  const { emptyDatabase, testRedis } = await import('@tributary/servers')
  const database = await emptyDatabase(t)
  const redis = await testRedis(t)
  const stateDir = scratchStateDir(t)
  const ports = { ingest: await freePort(), worker: await freePort() }
  const run = runScript('infra/src/start.ts', [], {
    TRIBUTARY_STATE_DIR: stateDir,
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    PORT: String(ports.ingest),
    WORKER_PORT: String(ports.worker),
    LOG_LEVEL: 'warn',
  })
  t.teardown(() => void run.child.kill('SIGKILL'))
  await run.waitFor(/Ctrl-C stops everything/)
  t.notMatch(run.output(), /starting the local/)
  t.match(run.output(), /write key\s+wk_/, 'demo tenant made in the given database')
  const [tenant] = await database.sql`select name from tenants`
  t.same(tenant, { name: 'demo' })
  const { existsSync } = await import('node:fs')
  t.notOk(existsSync(join(stateDir, 'stack.json')), 'no local stack recorded')
  t.notOk(existsSync(join(stateDir, 'demo-keys.json')), 'keys for an external database are not written to disk')
  run.child.kill('SIGINT')
  t.equal(await run.exited, 0)
})

t.test('pnpm start with only REDIS_URL set starts Postgres alone, uses that Redis, and stops only what it started', async (t) => {
  const { testRedis } = await import('@tributary/servers')
  const redis = await testRedis(t)
  const stateDir = scratchStateDir(t)
  const ports = { redis: await freePort(), postgres: await freePort(), ingest: await freePort(), worker: await freePort() }
  const run = runScript('infra/src/start.ts', [], {
    TRIBUTARY_STATE_DIR: stateDir,
    TRIBUTARY_REDIS_PORT: String(ports.redis),
    TRIBUTARY_POSTGRES_PORT: String(ports.postgres),
    DATABASE_URL: '',
    REDIS_URL: redis.url,
    PORT: String(ports.ingest),
    WORKER_PORT: String(ports.worker),
    LOG_LEVEL: 'warn',
  })
  t.teardown(() => void run.child.kill('SIGKILL'))
  await run.waitFor(/Ctrl-C stops everything/)
  t.match(run.output(), /starting the local postgres \(/)
  const state = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as { redis?: unknown; postgres: { pid: number } }
  t.notOk(state.redis, 'no local Redis started')
  t.ok(await isPortFree(ports.redis), 'nothing on the local Redis port')
  // The apps write to the given Redis: the demo tenant's event lands in its streams.
  const writeKey = /write key\s+(wk_\w+)/.exec(run.output())?.[1]
  const res = await retry(() => fetch(`http://127.0.0.1:${ports.ingest}/api/v2/analytics/events`, { method: 'POST', headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'x', userId: 'u' }) }))
  t.equal(res.status, 202)
  t.ok((await redis.redis.keys('tributary:events:*')).length > 0, 'into the given Redis')
  run.child.kill('SIGINT')
  t.equal(await run.exited, 0)
  t.notOk(isAlive(state.postgres.pid), 'the Postgres it started is stopped')
  t.equal(await redis.redis.ping(), 'PONG', 'the given Redis is left alone')
})

t.test('pnpm start with a DATABASE_URL it cannot reach says so in one line and exits 1', async (t) => {
  const { testRedis } = await import('@tributary/servers')
  const redis = await testRedis(t)
  const closed = await freePort()
  const run = runScript('infra/src/start.ts', [], {
    TRIBUTARY_STATE_DIR: scratchStateDir(t),
    DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/nowhere`,
    REDIS_URL: redis.url,
    PORT: String(await freePort()),
    WORKER_PORT: String(await freePort()),
  })
  t.teardown(() => void run.child.kill('SIGKILL'))
  t.equal(await run.exited, 1)
  t.match(run.output(), new RegExp(`pnpm start: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}\\n`))
  t.notMatch(run.output(), /\n\s+at /, 'no stack trace')
})
