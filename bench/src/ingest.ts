import { fork, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import autocannon from 'autocannon'
import type { Redis } from 'ioredis'
import { loadIngestConfig } from '@tributary/ingest/config'
import { freePort } from '@tributary/servers'
import { encodeEventJson, normalizeNative, type EventInput } from '@tributary/shared'
import { appExecArgv, ingestBundle } from './bundles.ts'
import { httpLoad, type HttpLoadResult } from './http-load.ts'

/** An event as ingest's route hands it to the event log: normalised, and its JSON line. */
export function appendable(input: EventInput, receivedAt: number) {
  const normalized = normalizeNative(input, receivedAt, undefined)
  if (!normalized.ok) throw new Error(normalized.message)
  return { event: normalized.event, json: encodeEventJson(normalized.event) }
}

export interface IngestScenario {
  name: string
  url: string
  /** Builds the n-th request body; every call must carry new event ids. */
  body: (n: number) => string | Buffer
  headers: Record<string, string>
  eventsPerRequest: number
}

export interface LoadResult {
  requestsPerSecond: number
  eventsPerSecond: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  errors: number
  peakRssMb: number
}

/** ~11 KB of JSON: 50 page views and actions with realistic metadata; ids unique per request. */
export function batchBody(run: string, n: number, events = 50): string {
  return batchJson(run, stampOf(n), n, events)
}

/**
 * Event ids as docs/api.md asks SDKs to make them, UUIDv7: the time when the run's bodies
 * were first built, the event's index in `rand_a`, 12 bits of the run's name and the
 * request's 12-digit number (or the stamp that stands for it) as the last group. So each id
 * is unique per run, request and event, and append.lua looks it up in the one set of seen
 * ids that can hold it, as for a conforming SDK (other ids cost Redis a lookup in each of
 * the window's 4 sets once a tenant has sent for a window: lua-cost.ts v4).
 */
export function benchEventId(run: string, request: string, index: number): string {
  let parts = runIdParts.get(run)
  if (!parts) {
    const time = Date.now().toString(16).padStart(12, '0')
    parts = { time: `${time.slice(0, 8)}-${time.slice(8)}`, tag: createHash('sha256').update(run).digest('hex').slice(0, 3) }
    runIdParts.set(run, parts)
  }
  return `${parts.time}-7${index.toString(16).padStart(3, '0')}-8${parts.tag}-${request}`
}
const runIdParts = new Map<string, { time: string; tag: string }>()

/** The batch body of request `request` (its ids), visitor and page chosen by `variant`. */
function batchJson(run: string, request: string, variant: number, events = 50): string {
  const list = []
  for (let i = 0; i < events; i++) {
    const eventId = benchEventId(run, request, i)
    list.push(
      i % 3 === 0
        ? { eventId, type: 'action', action: 'add_to_cart', anonymousId: `visitor-${variant % 997}`, metadata: { sku: `SKU-${i}`, price: 19.99 + i, currency: 'EUR', campaign: 'autumn-sale', position: i } }
        : { eventId, type: 'pageview', page: `/products/category-${i % 12}/item-${variant % 500}`, anonymousId: `visitor-${variant % 997}`, metadata: { referrer: 'https://www.example.com/search?q=shoes', title: 'Item page — Example Shop', viewport: '1440x900' } },
    )
  }
  return JSON.stringify({ events: list })
}

/** Stands where a stamped body's request number goes: 12 characters, like the number. */
const STAMP = '#'.repeat(12)

/**
 * Request bodies at almost no load-generator CPU, so that the generator takes as little as
 * it can of the cores the measured processes share with it. Building and encoding an 11 KB
 * body cost it ~200 µs per request, a fifth of what ingest and Redis spend on it. Each of
 * `variants` templates is built once with STAMP where the request number goes; a request
 * copies one and writes its number, zero-padded to 12 digits, over every stamp. Ids stay
 * unique per request, as with building each body.
 */
export function stampedBodies(build: (variant: number, stamp: string) => string, variants: number): (n: number) => Buffer {
  const templates = Array.from({ length: variants }, (_, v) => {
    const bytes = Buffer.from(build(v, STAMP))
    const at: number[] = []
    for (let i = bytes.indexOf(STAMP); i !== -1; i = bytes.indexOf(STAMP, i + STAMP.length)) at.push(i)
    if (at.length === 0) throw new Error('a stamped body template must hold the stamp')
    return { bytes, at }
  })
  return (n) => {
    const { bytes, at } = templates[n % variants]!
    const body = Buffer.from(bytes)
    const digits = stampOf(n)
    for (const i of at) body.write(digits, i, 'latin1')
    return body
  }
}

/** What a stamped body holds in place of STAMP for request `n`. */
export const stampOf = (n: number) => String(n).padStart(STAMP.length, '0')

/** batchBody's requests, stamped: the ids of benchEventId with the 12-digit request number. */
export const batchBodies = (run: string) => stampedBodies((variant, stamp) => batchJson(run, stamp, variant), 997)

export function gzipBatchBody(run: string, n: number) {
  return gzipSync(batchBody(run, n))
}

export function singleEventBody(run: string, n: number) {
  return JSON.stringify({ eventId: `${run}-${n}`, type: 'pageview', page: `/p/${n % 100}`, anonymousId: `visitor-${n % 997}` })
}

/**
 * Segment `/v1/batch` requests, stamped like batchBodies: messageIds `run`-<12-digit request
 * number>-<index> (Segment's SDKs send UUIDv4s, which cost append.lua the same as any id
 * that is not a UUIDv7); the timestamps are when the run's templates were built.
 */
export const segmentBatchBodies = (run: string) => stampedBodies((variant, stamp) => {
  const now = new Date().toISOString()
  const batch = []
  for (let i = 0; i < 50; i++) {
    batch.push({ type: i % 3 === 0 ? 'track' : 'page', messageId: `${run}-${stamp}-${i}`, anonymousId: `visitor-${variant}`, event: 'Product Added', name: 'Item', properties: { path: `/products/${i}`, sku: `SKU-${i}`, price: 19.99 }, context: { library: { name: 'bench', version: '1' } }, timestamp: now })
  }
  return JSON.stringify({ batch, sentAt: now })
}, 997)

/**
 * Marks every shard as past the 2 dedup windows that follow an upgrade of append.lua
 * (`dedup-timed-since`, see infra/README.md), as in a deployment that has run this version
 * for a while: without it, right after a FLUSHALL, the script looks UUIDv7 ids up in all 4
 * sets of seen ids, as it does during a rollout. `env`: the ingest process's, for its shards.
 */
export async function markPastUpgradeWindow(redis: Redis, env: Record<string, string>) {
  const { STREAM_SHARDS } = loadIngestConfig({ ...process.env, ...env })
  for (let shard = 0; shard < STREAM_SHARDS; shard++) await redis.set(`tributary:dedup-timed-since:{${shard}}`, 0)
}

/**
 * One ingest process, bundled like the production build (bundles.ts), so its memory and
 * speed are what a deployment gets.
 */
export async function startIngest(env: Record<string, string>, mode: 'real' | 'ceiling'): Promise<{ port: number; child: ChildProcess; rss(): Promise<number>; stop(): Promise<void> }> {
  const port = await freePort()
  const child = fork(await ingestBundle(), [], {
    env: { ...process.env, ...env, PORT: String(port), MODE: mode, LOG_LEVEL: 'warn' },
    execArgv: appExecArgv('ingest'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) => reject(new Error(`ingest server exited with ${code}`)))
  })
  return {
    port,
    child,
    rss: () => new Promise((resolve) => { child.once('message', (m: { rss: number }) => resolve(m.rss)); child.send({ rss: true }) }),
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') }),
  }
}

/**
 * BENCH_LOADGEN: what sends the ingest benchmark's requests. `lean` (the default) is
 * bench/src/http-load.ts, which costs the shared cores about half of what autocannon does;
 * `autocannon` is kept to compare with the runs before 2026-11-28.
 */
export const LOADGEN: 'lean' | 'autocannon' = process.env.BENCH_LOADGEN === 'autocannon' ? 'autocannon' : 'lean'

/** Drives `scenario` for `seconds` with `connections` keep-alive connections, sampling the server's RSS. */
export async function load(scenario: IngestScenario, seconds: number, connections: number, rss: () => Promise<number>, rate?: number): Promise<LoadResult> {
  let peakRss = 0
  const sampler = setInterval(() => void rss().then((r) => (peakRss = Math.max(peakRss, r))), 500)
  const result = LOADGEN === 'lean' ? await httpLoad({ url: scenario.url, headers: scenario.headers, body: scenario.body, connections, seconds, ...(rate ? { rate } : {}) }) : await autocannonLoad(scenario, seconds, connections, rate)
  clearInterval(sampler)
  peakRss = Math.max(peakRss, await rss())
  return {
    requestsPerSecond: result.ok / seconds,
    eventsPerSecond: (result.ok * scenario.eventsPerRequest) / seconds,
    p50Ms: result.latencyP50Ms,
    p99Ms: result.latencyP99Ms,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    peakRssMb: peakRss / 1024 / 1024,
  }
}

async function autocannonLoad(scenario: IngestScenario, seconds: number, connections: number, rate?: number): Promise<HttpLoadResult> {
  let n = 0
  const result = await autocannon({
    url: scenario.url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: scenario.headers,
    ...(rate ? { overallRate: rate } : {}),
    requests: [{ setupRequest: (req) => ({ ...req, body: scenario.body(n++) }) }],
  })
  // Scaled to `seconds`, as httpLoad counts: autocannon's own run can last a little longer.
  const scale = seconds / (result.duration || seconds)
  return { ok: result['2xx'] * scale, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, latencyP50Ms: result.latency.p50, latencyP99Ms: result.latency.p99, latencyMaxMs: result.latency.max }
}
