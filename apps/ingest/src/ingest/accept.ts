import { ApiError, backlogFull, rateLimited, redisUnavailable } from '../errors.ts'
import type { AppendResult, EventLog, SessionResult } from '../event-log/event-log.ts'
import { countEvents, type IngestMetrics } from '../plugins/metrics.ts'
import type { EventError, PreparedBatch } from './prepare.ts'

export interface Accepted {
  accepted: number
  duplicates: number
  errors: EventError[]
}

/**
 * Redis failures are the server's problem, not the client's: connection refused or lost,
 * no connection yet (no offline queue), a timeout, or Redis out of memory. All are a 503
 * the client can retry; the event ids make the retry safe.
 *
 * Not async, so that `call`, and whatever it closes over (a request's events), is dropped
 * as soon as the call has started instead of being held until Redis answers.
 */
export function callEventLog<T>(call: () => Promise<T>): Promise<T> {
  let pending: Promise<T>
  try {
    pending = call()
  } catch (err) {
    return Promise.reject(asUnavailable(err))
  }
  return pending.catch((err: unknown) => {
    throw asUnavailable(err)
  })
}

function asUnavailable(err: unknown): unknown {
  if (err instanceof ApiError) return err
  const unavailable = redisUnavailable()
  // Logged with the 503 by the error handler; never sent to the client.
  unavailable.cause = err
  return unavailable
}

function refused(result: { outcome: string; retryAfterMs?: number }): never {
  if (result.outcome === 'rate_limited') throw rateLimited(result.retryAfterMs ?? 1000)
  throw backlogFull()
}

/**
 * Appends a prepared batch; answers what happened to each event. A batch with no valid event
 * is a 400.
 *
 * Not async on purpose: it hands the events to the event log and keeps only their indexes,
 * so nothing holds the parsed events while Redis answers. Requests wait tens of ms there
 * under load; objects kept that long outlive young-generation collections and are copied,
 * then promoted, which costs ingest CPU on every request. The routes also drop
 * request.body, and return this promise instead of awaiting it (a suspended async function
 * keeps its locals, the parsed body among them), for the same reason.
 */
export function acceptBatch(log: EventLog, tenantId: string, keyId: string, batch: PreparedBatch, receivedAt: number, metrics?: IngestMetrics): Promise<Accepted> {
  const indexes = batch.events.map((e) => e.index)
  const appended = batch.events.length > 0 ? callEventLog(() => log.appendEvents(tenantId, keyId, batch.events, receivedAt)) : undefined
  return answer(appended, indexes, [...batch.errors], batch.duplicates, metrics)
}

async function answer(appended: Promise<AppendResult> | undefined, indexes: number[], errors: EventError[], duplicates: number, metrics?: IngestMetrics): Promise<Accepted> {
  let accepted = 0
  if (appended) {
    const result = await appended
    if (result.outcome !== 'ok') refused(result)
    result.statuses.forEach((status, i) => {
      if (status === 'accepted') accepted++
      else if (status === 'duplicate') duplicates++
      else errors.push({ index: indexes[i]!, code: 'unknown_session', message: 'the sessionId is not one this server knows; start the session first or send a userId or anonymousId' })
    })
  }
  errors.sort((a, b) => a.index - b.index)
  if (metrics) countEvents(metrics, { accepted, duplicates, errors })
  if (accepted === 0 && duplicates === 0) {
    throw new ApiError(400, 'no_valid_events', `none of the ${errors.length} event${errors.length === 1 ? '' : 's'} could be accepted; see errors`, { errors })
  }
  return { accepted, duplicates, errors }
}

export function sessionOutcome(result: SessionResult): 'ok' | 'duplicate' | 'unknown_session' {
  if (result.outcome === 'rate_limited' || result.outcome === 'backlog_full') refused(result)
  return result.outcome
}
