import autocannon from 'autocannon'
import { pacedLoad } from './paced-load.ts'

/**
 * The two ways the end-to-end ramp can offer its rate (BENCH_E2E_LOAD):
 * - `paced` (the default): open-loop (bench/src/paced-load.ts). Request n is due at n / rate
 *   whatever happened before; one that finds the 50 connections busy waits and is sent late,
 *   and its latency counts from when it was due. A stall is then paid for until the queue it
 *   built has drained, which needs spare capacity above the rate.
 * - `autocannon`: autocannon's `overallRate` on 50 connections. Each connection may send
 *   rate / 50 requests per second, back to back, and its budget restarts every second; what
 *   a connection could not send in its second (it waited on slow answers) is dropped, not
 *   sent late, so a stall costs requests that are never offered. Kept to compare with the
 *   runs before the paced load was the default.
 */
export type LoadKind = 'autocannon' | 'paced'

export interface OfferedLoad {
  origin: string
  authorization: string
  requestsPerSecond: number
  seconds: number
  body(n: number): Buffer
  onAnswer(status: number, body: string, n: number): void
}

export interface LoadResult {
  /** 2xx answers per second of the run (paced: those that arrived before its end). */
  okPerSecond: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
  /** Connection errors and timeouts (paced: also requests with no answer 30 s after the end). */
  failed: number
}

const PATH = '/api/v2/analytics/events'
const CONNECTIONS = 50

export async function offerLoad(kind: LoadKind, load: OfferedLoad): Promise<LoadResult> {
  const headers = { authorization: load.authorization, 'content-type': 'application/json' }
  if (kind === 'paced') {
    const r = await pacedLoad({ origin: load.origin, path: PATH, headers, rate: load.requestsPerSecond, seconds: load.seconds, connections: CONNECTIONS, body: load.body, onResponse: load.onAnswer })
    return { okPerSecond: r.okInTime / load.seconds, latencyP50Ms: r.latencyP50Ms, latencyP99Ms: r.latencyP99Ms, latencyMaxMs: r.latencyMaxMs, failed: r.failed }
  }
  let n = 0
  const result = await autocannon({
    url: load.origin + PATH,
    method: 'POST',
    connections: CONNECTIONS,
    duration: load.seconds,
    overallRate: Math.max(1, Math.round(load.requestsPerSecond)),
    headers,
    requests: [
      {
        setupRequest: (req, ctx: object) => {
          const context = ctx as Record<string, unknown>
          const id = n++
          context.id = id
          return { ...req, body: load.body(id) }
        },
        onResponse: (status, responseBody, ctx: object) => load.onAnswer(status, responseBody, (ctx as Record<string, unknown>).id as number),
      },
    ],
  })
  return { okPerSecond: result['2xx'] / (result.duration || load.seconds), latencyP50Ms: result.latency.p50, latencyP99Ms: result.latency.p99, latencyMaxMs: result.latency.max, failed: result.errors + result.timeouts }
}
