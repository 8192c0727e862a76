import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort } from '@tributary/servers'
import { streamKey } from '@tributary/shared'
import { TcpProxy } from '../../../packages/chaos/src/tcp-proxy.ts'
import { pageview, pipeline } from './fixtures/pipeline.ts'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

/** Runs the real worker process; resolves with how it ended. */
function runWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })))
  return { child, ended }
}

for (const point of ['after_read', 'after_commit'] as const) {
  t.test(`SIGKILL ${point === 'after_read' ? 'between read and COMMIT' : 'between COMMIT and XACK'}: every event exactly once after another worker takes over`, async (t) => {
    const p = await pipeline(t)
    const ids = Array.from({ length: 300 }, (_, i) => `k${i}`)
    for (let i = 0; i < ids.length; i += 50) await p.produce(ids.slice(i, i + 50).map((id) => pageview(id)))
    const env = { DATABASE_URL: p.database.url, REDIS_URL: p.redisUrl, STREAM_SHARDS: '2', LOG_LEVEL: 'silent', BATCH_MAX_WAIT_MS: '20', READ_BLOCK_MS: '100' }

    const doomed = runWorker({ ...env, WORKER_NAME: 'doomed', WORKER_PORT: String(await freePort()), FAULT_CRASH_AT: point })
    const end = await doomed.ended
    t.equal(end.signal, 'SIGKILL', 'the worker died by SIGKILL')
    t.ok((await p.pendingCount()) > 0, 'it left entries pending')
    const committed = await p.rowCount()
    if (point === 'after_read') t.equal(committed, 0, 'nothing was committed')
    else t.ok(committed > 0, `its batch was committed (${committed} rows) but not acknowledged`)

    // A peer takes the dead consumer's entries over once they are idle for CLAIM_IDLE_MS.
    await p.startWorker({ WORKER_NAME: 'survivor', CLAIM_IDLE_MS: '500' })
    await p.waitFor(async () => (await p.pendingCount()) === 0 && (await p.rowCount()) === ids.length, 'every event stored and acknowledged')
    const [dups] = await p.database.sql`select count(*) - count(distinct (tenant_id, event_id)) as extra from user_activities`
    t.equal(Number(dups!.extra), 0, 'no duplicates')
    t.equal(await p.rowCount(), 300, 'no loss')
  })
}

t.test('a restarted worker re-reads its own pending entries at once', async (t) => {
  const p = await pipeline(t)
  await p.produce([pageview('r1'), pageview('r2')])
  const env = { DATABASE_URL: p.database.url, REDIS_URL: p.redisUrl, STREAM_SHARDS: '2', LOG_LEVEL: 'silent', BATCH_MAX_WAIT_MS: '20', READ_BLOCK_MS: '100', WORKER_NAME: 'same-name' }
  const first = runWorker({ ...env, WORKER_PORT: String(await freePort()), FAULT_CRASH_AT: 'after_read' })
  t.equal((await first.ended).signal, 'SIGKILL')
  t.equal(await p.pendingCount(), 1)
  // Same name and no claim delay: it starts by reading its own backlog (id 0).
  await p.startWorker({ WORKER_NAME: 'same-name', CLAIM_IDLE_MS: '3600000' })
  await p.waitFor(async () => (await p.rowCount()) === 2 && (await p.pendingCount()) === 0, 'both stored')
  t.pass('resumed without waiting for a claim')
})

t.test('SIGTERM mid-run: the batch in hand is finished and acknowledged, then exit 0', async (t) => {
  const p = await pipeline(t)
  const env = { DATABASE_URL: p.database.url, REDIS_URL: p.redisUrl, STREAM_SHARDS: '2', LOG_LEVEL: 'silent', BATCH_MAX_WAIT_MS: '1000', READ_BLOCK_MS: '200', WORKER_NAME: 'graceful', WORKER_PORT: String(await freePort()) }
  const worker = runWorker(env)
  t.teardown(() => void worker.child.kill('SIGKILL'))
  await p.waitFor(async () => {
    try {
      return ((await p.redis.xinfo('GROUPS', streamKey(0))) as unknown[]).length > 0
    } catch {
      return false
    }
  }, 'the worker to create its groups')
  // Events arrive; the worker is filling a batch (1 s window) when SIGTERM lands.
  await p.produce(Array.from({ length: 50 }, (_, i) => pageview(`g${i}`)))
  await new Promise((r) => setTimeout(r, 300))
  worker.child.kill('SIGTERM')
  const end = await worker.ended
  t.equal(end.code, 0, `exit 0 ${end.stderr.slice(0, 200)}`)
  t.equal(await p.pendingCount(), 0, 'nothing left pending')
  t.equal(await p.rowCount(), 50, 'the batch in hand was written')
})

t.test('Redis unreachable when the worker starts: /healthz answers at once, /readyz says not ready, and it consumes once Redis is there', async (t) => {
  const p = await pipeline(t)
  const link = await TcpProxy.to(p.redisUrl)
  t.teardown(() => link.close())
  link.freeze() // connections are accepted and hear nothing: Redis silent
  const port = await freePort()
  const worker = runWorker({ DATABASE_URL: p.database.url, REDIS_URL: link.url(p.redisUrl), STREAM_SHARDS: '2', LOG_LEVEL: 'silent', BATCH_MAX_WAIT_MS: '20', READ_BLOCK_MS: '100', WORKER_NAME: 'early', WORKER_PORT: String(port) })
  t.teardown(() => void worker.child.kill('SIGKILL'))
  const get = async (path: string) => {
    try {
      return (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) })).status
    } catch {
      return undefined
    }
  }
  await p.waitFor(async () => (await get('/healthz')) === 200, '/healthz while Redis is silent', 15_000)
  t.equal(await get('/readyz'), 503, 'not ready: Redis does not answer')
  link.thaw()
  await p.produce([pageview('after-start')])
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the event, once Redis answers', 20_000)
  await p.waitFor(async () => (await get('/readyz')) === 200, 'ready', 10_000)
  t.pass('consumed and ready once Redis answered')
})
