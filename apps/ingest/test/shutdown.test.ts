import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createTenant } from '@tributary/db'
import { testDatabase } from '@tributary/db/testing'
import { freePort, testRedis } from '@tributary/servers'
import { decodeEntry, streamKey } from '@tributary/shared'

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url))

t.test('SIGTERM under load: every acknowledged event is in the stream, nothing answered 5xx but 503', async (t) => {
  const database = await testDatabase(t)
  const { url: redisUrl, redis } = await testRedis(t)
  const tenant = await createTenant(database.db, 'acme')
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, DATABASE_URL: database.url, REDIS_URL: redisUrl, PORT: String(port), STREAM_SHARDS: '1', LOG_LEVEL: 'silent', RATE_LIMIT_EVENTS_PER_SECOND: '0' },
    stdio: 'ignore',
  })
  t.teardown(() => void child.kill('SIGKILL'))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}/api/v2/analytics/events`
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false)) break
    await new Promise((r) => setTimeout(r, 100))
  }

  const acked = new Set<string>()
  const statuses: Record<string, number> = {}
  let sent = 0
  const send = async (n: number) => {
    const events = Array.from({ length: 20 }, (_, i) => ({ eventId: `s${n}-${i}`, type: 'pageview', page: '/', anonymousId: `v${n % 7}` }))
    try {
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ events }) })
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status === 202) for (const e of events) acked.add(e.eventId)
      await res.arrayBuffer()
    } catch {
      statuses.refused = (statuses.refused ?? 0) + 1 // the server had stopped listening: not acknowledged
    }
  }
  const load = (async () => {
    const inflight = new Set<Promise<void>>()
    for (let n = 0; n < 400; n++) {
      const p: Promise<void> = send(n).finally(() => inflight.delete(p))
      inflight.add(p)
      sent++
      if (inflight.size >= 20) await Promise.race(inflight)
    }
    await Promise.all(inflight)
  })()
  await new Promise((r) => setTimeout(r, 300))
  child.kill('SIGTERM')
  await load
  t.equal(await exited, 0, 'the server exits 0')
  t.ok((statuses[202] ?? 0) > 0, `some requests were acknowledged (${JSON.stringify(statuses)} of ${sent})`)
  t.ok(Object.keys(statuses).every((s) => s === '202' || s === '503' || s === 'refused'), 'only 202, 503 or a refused connection')

  const stored = new Set<string>()
  for (const [, fields] of await redis.xrange(streamKey(0), '-', '+')) {
    const entry = decodeEntry(fields)
    if (entry.kind === 'ev') for (const e of entry.events) stored.add(e.eventId)
  }
  const missing = [...acked].filter((id) => !stored.has(id))
  t.same(missing, [], `all ${acked.size} acknowledged events are in the stream`)
})
