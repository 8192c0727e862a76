import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import { cleanupAndSync, databaseErrorCode, historical, isTransientDatabaseError, LOCK_NOT_AVAILABLE, topEvents, topPages } from '@tributary/db'
import {
  daysBetween,
  ErrorResponseSchema,
  HistoricalSchema,
  isCalendarDate,
  lastDays,
  RangeQuerySchema,
  RealtimeSchema,
  Slots,
  SlotsFullError,
  SyncResultSchema,
  TopEventsSchema,
  TopListQuerySchema,
  TopPagesSchema,
} from '@tributary/shared'
import { ApiError } from '../errors.ts'
import { createSyncQueue } from './sync-queue.ts'
import { readRealtime } from '../event-log/realtime.ts'

const MAX_DAYS = 365
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 503: ErrorResponseSchema }

/** `days=N`, or `from` and `to`; in the tenant's timezone; at most 365 days. */
export function parseRange(query: Static<typeof RangeQuerySchema>, timezone: string, now = Date.now()) {
  const invalid = (message: string) => new ApiError(400, 'invalid_range', message)
  if (query.days !== undefined && (query.from !== undefined || query.to !== undefined)) throw invalid('give either days or from and to, not both')
  if (query.from !== undefined || query.to !== undefined) {
    if (query.from === undefined || query.to === undefined) throw invalid('from and to go together')
    if (!isCalendarDate(query.from) || !isCalendarDate(query.to)) throw invalid('from and to are calendar dates, YYYY-MM-DD')
    if (query.from > query.to) throw invalid('from is after to')
    if (daysBetween(query.from, query.to) + 1 > MAX_DAYS) throw invalid(`a range covers at most ${MAX_DAYS} days`)
    return { from: query.from, to: query.to }
  }
  const days = query.days === undefined ? 30 : Number(query.days)
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw invalid(`days is 1 to ${MAX_DAYS}`)
  return lastDays(timezone, days, now)
}

function parseLimit(limit: string | undefined) {
  const n = limit === undefined ? 10 : Number(limit)
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ApiError(400, 'invalid_limit', 'limit is 1 to 100')
  return n
}

/**
 * Dashboard reads running at once in this process, and waiting: the pool has 10
 * connections, and key checks (up to 4) and POST /sync (1) need theirs whatever the
 * dashboards do. Past the line, a 503 with Retry-After.
 */
const MAX_CONCURRENT_READS = 5
const MAX_QUEUED_READS = 100

/** A database failure a retry can cure is a 503 with Retry-After; any other stays a 500 (and is logged): retrying it would fail the same way. */
const wrapDatabase = async <T>(run: () => Promise<T>): Promise<T> => {
  try {
    return await run()
  } catch (err) {
    if (err instanceof SlotsFullError) throw new ApiError(503, 'unavailable', `${MAX_CONCURRENT_READS + MAX_QUEUED_READS} dashboard reads are already running or waiting in this process; retry shortly`, { retryAfterSeconds: 1 })
    if (err instanceof ApiError || !isTransientDatabaseError(err)) throw err
    throw Object.assign(new ApiError(503, 'unavailable', 'the database is unreachable; retry later', { retryAfterSeconds: 5 }), { cause: err })
  }
}

/** How long POST /sync waits for a cleanup-and-sync running elsewhere, before a 503: its callers wait in line behind it. */
const SYNC_LOCK_TIMEOUT_MS = 10_000

/** Dashboard reads, with a read key; the tenant comes from the key. */
const read: FastifyPluginAsyncTypebox<{ sessionTimeoutMinutes: number; shards: number; syncMinIntervalMs: number }> = async (app, { sessionTimeoutMinutes, shards, syncMinIntervalMs }) => {
  const onRequest = app.requireKey('read')
  const reads = new Slots('dashboard reads', MAX_CONCURRENT_READS, MAX_QUEUED_READS)

  app.get('/api/v2/analytics/historical', { onRequest, schema: { summary: 'Daily metrics over a range', querystring: RangeQuerySchema, response: { 200: HistoricalSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal!
    const range = parseRange(request.query, timezone)
    const result = await wrapDatabase(() => reads.run(() => historical(app.db, tenantId, timezone, range)))
    return { tenantId, ...range, ...result }
  })

  app.get('/api/v2/analytics/historical/pages', { onRequest, schema: { summary: 'Top pages over a range', querystring: TopListQuerySchema, response: { 200: TopPagesSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal!
    const range = parseRange(request.query, timezone)
    const limit = parseLimit(request.query.limit)
    const pages = await wrapDatabase(() => reads.run(() => topPages(app.db, tenantId, timezone, range, limit)))
    return { tenantId, ...range, pages }
  })

  app.get('/api/v2/analytics/historical/events', { onRequest, schema: { summary: 'Top events over a range', querystring: TopListQuerySchema, response: { 200: TopEventsSchema, ...errors } } }, async (request) => {
    const { tenantId, timezone } = request.principal!
    const range = parseRange(request.query, timezone)
    const limit = parseLimit(request.query.limit)
    const events = await wrapDatabase(() => reads.run(() => topEvents(app.db, tenantId, timezone, range, limit)))
    return { tenantId, ...range, events }
  })

  app.get('/api/v2/analytics/realtime', { onRequest, schema: { summary: 'Live figures from Redis', response: { 200: RealtimeSchema, ...errors } } }, async (request) => {
    try {
      return await readRealtime(app.redis, request.principal!.tenantId, { shards, sessionTimeoutMs: sessionTimeoutMinutes * 60_000 })
    } catch {
      throw new ApiError(503, 'unavailable', 'the real-time store is unreachable; retry later', { retryAfterSeconds: 5 })
    }
  })

  /**
   * One tenant's on-demand syncs start SYNC_MIN_INTERVAL_MS apart across every ingest
   * process: a run claims the tenant's slot in Redis (SET NX PX) as it starts, and a run
   * that finds it taken is a 429 with Retry-After, at once (a wait here would hold up the
   * other tenants queued behind it). Each run holds the cleanup-and-sync lock, which the
   * workers' periodic run then waits for (it skipped it once, and one read key calling /sync
   * in a loop kept it from ever running). Without Redis the runs are not spaced; the sync
   * itself needs none.
   */
  const recentSyncKey = (tenantId: string) => `tributary:sync-recent:${tenantId}`
  const syncNow = createSyncQueue(async (tenantId) => {
    if (syncMinIntervalMs > 0) {
      const claimed = await app.redis.set(recentSyncKey(tenantId), '1', 'PX', syncMinIntervalMs, 'NX').catch(() => 'OK')
      if (claimed !== 'OK') {
        const waitMs = await app.redis.pttl(recentSyncKey(tenantId)).catch(() => syncMinIntervalMs)
        throw new ApiError(429, 'sync_busy', `a sync of this tenant started less than ${syncMinIntervalMs / 1000} s ago: its figures are as fresh as a sync makes them; read them now`, { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) })
      }
    }
    return cleanupAndSync(app.db, { sessionTimeoutMinutes, tenantId, wait: true, lockTimeoutMs: SYNC_LOCK_TIMEOUT_MS }).catch((err: unknown) => {
      if (databaseErrorCode(err) !== LOCK_NOT_AVAILABLE) throw err
      throw new ApiError(503, 'sync_busy', `another cleanup-and-sync has held the lock for ${SYNC_LOCK_TIMEOUT_MS / 1000} s; the periodic sync brings the figures up to date, or retry later`, { retryAfterSeconds: 10 })
    })
  })
  app.post('/api/v2/analytics/sync', { onRequest, schema: { summary: 'Run cleanup-and-sync for this tenant now', response: { 200: SyncResultSchema, 429: ErrorResponseSchema, ...errors } } }, async (request) => {
    const result = await wrapDatabase(() => syncNow(request.principal!.tenantId))
    return { syncedDays: result.syncedDays, sessionsClosed: result.sessionsClosed, durationMs: result.durationMs }
  })
}

export default read
