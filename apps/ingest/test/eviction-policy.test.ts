import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { pino } from 'pino'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { freePort, jsonLines, within, type Teardown } from '@tributary/servers'
import { checkEviction } from '@tributary/shared'
import { buildApp } from '../src/app.ts'
import { loadIngestConfig } from '../src/config.ts'
import { ownRedis } from './fixtures/build.ts'

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

/** The ingest process, as a deployment runs it; resolves with its exit code and output. */
function startIngest(t: Teardown, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void child.kill('SIGKILL'))
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d))
  child.stderr.on('data', (d: Buffer) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { exited, output: () => output }
}

t.test('checkEviction: noeviction passes, an evicting policy is a problem that says what it costs', async (t) => {
  const { admin } = await ownRedis(t)
  t.same(await checkEviction(admin), { policy: 'noeviction' })
  await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
  t.match(await checkEviction(admin), { policy: 'allkeys-lru', problem: undefined, warning: /would evict keys once a maxmemory is set/ }, 'no maxmemory: nothing evicted yet, a warning')
  await admin.config('SET', 'maxmemory', '1gb')
  const check = await checkEviction(admin)
  t.equal(check.policy, 'allkeys-lru')
  t.match(check.problem, /maxmemory-policy allkeys-lru.*loses acknowledged events.*Set maxmemory-policy noeviction/)
})

t.test('ingest refuses to start on a Redis that evicts keys', async (t) => {
  const { url, admin } = await ownRedis(t)
  await admin.config('SET', 'maxmemory-policy', 'volatile-lru')
  await admin.config('SET', 'maxmemory', '1gb')
  const database = await testDatabase(t)
  const port = await freePort()
  const ingest = startIngest(t, { DATABASE_URL: database.url, REDIS_URL: url, PORT: String(port) })
  t.equal(await within(ingest.exited, 20_000), 1, 'exits 1')
  t.match(ingest.output(), /maxmemory-policy volatile-lru.*Ingest does not accept events on such a server; exiting/)
  t.notOk(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false), 'and never listened')
})

t.test('ingest stops when it reconnects to a Redis that has come to evict keys', async (t) => {
  const { url, admin } = await ownRedis(t)
  const database = await testDatabase(t)
  const tenant = await createTenant(database.db, 'acme')
  const port = await freePort()
  const ingest = startIngest(t, { DATABASE_URL: database.url, REDIS_URL: url, PORT: String(port) })
  const post = () => fetch(`http://127.0.0.1:${port}/api/v2/analytics/events`, { method: 'POST', headers: { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'x', userId: 'u' }) }).then((r) => r.status, () => 0)
  let status = 0
  for (let i = 0; i < 200 && status !== 202; i++) {
    status = await post()
    if (status !== 202) await new Promise((r) => setTimeout(r, 100))
  }
  t.equal(status, 202, 'running on a noeviction Redis')
  await admin.config('SET', 'maxmemory-policy', 'allkeys-random')
  await admin.config('SET', 'maxmemory', '1gb')
  await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  t.equal(await within(ingest.exited, 20_000), 1, 'exits 1 once reconnected')
  t.match(ingest.output(), /maxmemory-policy allkeys-random/)
})

t.test('a Redis user not allowed CONFIG: ingest starts, warns, and accepts events', async (t) => {
  const { url, admin } = await ownRedis(t)
  await admin.acl('SETUSER', 'ingest', 'on', '>secret', '~*', '&*', '+@all', '-config')
  const limited = new URL(url)
  limited.username = 'ingest'
  limited.password = 'secret'
  const database = await testDatabase(t)
  const tenant = await createTenant(database.db, 'acme')
  const { sink, lines } = jsonLines<{ msg: string }>()
  const logger = pino({ level: 'warn' }, sink)
  const app = await buildApp({ config: loadIngestConfig({ DATABASE_URL: database.url, REDIS_URL: limited.href }), logger })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/api/v2/analytics/events', headers: { authorization: `Bearer ${tenant.writeKey}` }, payload: { type: 'x', userId: 'u' } })
  t.equal(res.statusCode, 202)
  t.match(lines.map((l) => l.msg).join('\n'), /could not read Redis's maxmemory-policy .*NOPERM.*make sure it is noeviction/)
})
