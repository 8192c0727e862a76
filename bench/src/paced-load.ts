import { Pool } from 'undici'
import { percentile } from '@tributary/servers'

/**
 * An open-loop load generator (BENCH_E2E_LOAD=paced; bench/src/offer-load.ts says how it
 * differs from autocannon's rate): request n is due at start + n / rate, whatever happened
 * to the requests before it. A request that finds every connection busy waits in the pool's
 * queue and is sent as soon as one frees up; its latency counts from the moment it was due,
 * so the time it waited is charged to the system (no coordinated omission).
 */
export interface PacedLoadOptions {
  /** `http://host:port`. */
  origin: string
  path: string
  headers: Record<string, string>
  /** Requests per second, spread evenly over each second. */
  rate: number
  seconds: number
  connections: number
  body(n: number): Buffer
  /** Called with each answer (n: the request's number, as passed to body). */
  onResponse(status: number, body: string, n: number): void
  /** How long to wait, after the last request is due, for the answers still to come. */
  drainMs?: number
}

export interface PacedLoadResult {
  /** 2xx answers that arrived by the end of the run (start + seconds): what the rate is read from. */
  okInTime: number
  /** Requests that failed (connection errors) or got no answer before the drain ended. */
  failed: number
  /** Latency from the moment a request was due to its answer, ms. */
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
}

export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1 })
  const total = Math.round(options.rate * options.seconds)
  const interval = 1000 / options.rate
  const latencies: number[] = []
  let okInTime = 0
  let failed = 0
  /** Set once the drain is over: what still settles after that is counted as failed already. */
  let closed = false
  let inFlight = 0
  /** Resolves the drain's wait once nothing is in flight. */
  let settledAll: (() => void) | undefined
  const start = performance.now()
  const end = start + options.seconds * 1000

  const send = (n: number) => {
    const dueAt = start + n * interval
    void pool
      .request({ method: 'POST', path: options.path, headers: options.headers, body: options.body(n) })
      .then(async (response) => {
        const text = await response.body.text()
        if (closed) return
        const now = performance.now()
        latencies.push(now - dueAt)
        if (now <= end && response.statusCode >= 200 && response.statusCode < 300) okInTime++
        options.onResponse(response.statusCode, text, n)
      })
      .catch(() => {
        if (!closed) failed++
      })
      .finally(() => {
        if (--inFlight === 0) settledAll?.()
      })
    inFlight++
  }

  let next = 0
  while (next < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
    while (next < due) send(next++)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  // One wait for all (a race over every pending request, repeated, costs O(n²) and kept the
  // event loop from sending a queue of thousands).
  const drainMs = Math.max(end, performance.now()) + (options.drainMs ?? 30_000) - performance.now()
  if (inFlight > 0) {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([new Promise<void>((resolve) => (settledAll = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)))])
    clearTimeout(timer)
  }
  failed += inFlight
  closed = true
  await pool.destroy()
  latencies.sort((a, b) => a - b)
  return {
    okInTime,
    failed,
    latencyP50Ms: Math.round(percentile(latencies, 50) ?? Number.POSITIVE_INFINITY),
    latencyP99Ms: Math.round(percentile(latencies, 99) ?? Number.POSITIVE_INFINITY),
    latencyMaxMs: Math.round(latencies.at(-1) ?? Number.POSITIVE_INFINITY),
  }
}
