import { ApiError } from '../errors.ts'

/** Tenants whose sync may wait in one process before more are refused. */
export const MAX_WAITING_SYNCS = 16

/**
 * On-demand syncs (`POST /sync`), one at a time per process. Each run takes the
 * cluster-wide cleanup-and-sync lock and may wait for it (a periodic run, another
 * process) while holding a connection of the pool that key checks share: ten callers at
 * once held the whole pool, and ingestion stalled on its uncached key checks until the lock
 * came free. Queued here, at most one connection waits. A tenant already waiting shares the
 * run that waits: it has not started, so its result covers everything that caller asked for.
 * Past MAX_WAITING_SYNCS waiting tenants, a 429 `sync_busy` with Retry-After.
 */
export function createSyncQueue<R>(run: (tenantId: string) => Promise<R>, maxWaiting = MAX_WAITING_SYNCS): (tenantId: string) => Promise<R> {
  let tail: Promise<unknown> = Promise.resolve()
  const waiting = new Map<string, Promise<R>>()
  return (tenantId) => {
    const queued = waiting.get(tenantId)
    if (queued) return queued
    if (waiting.size >= maxWaiting) {
      throw new ApiError(429, 'sync_busy', `${waiting.size} syncs are already waiting in this process; the periodic sync runs every minute anyway`, { retryAfterSeconds: 5 })
    }
    const result = tail.then(() => {
      waiting.delete(tenantId)
      return run(tenantId)
    })
    waiting.set(tenantId, result)
    tail = result.catch(() => {})
    return result
  }
}
