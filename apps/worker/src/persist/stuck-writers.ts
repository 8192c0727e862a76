import { sql } from 'drizzle-orm'
import type { Database } from '@tributary/db'

/** Every worker connection is named `tributary-worker:<WORKER_NAME>` (see main.ts), so peers can tell them apart in pg_stat_activity. */
export const WORKER_APPLICATION_PREFIX = 'tributary-worker:'

/**
 * Ends worker transactions that block another worker's write while they wait on a client that
 * has gone silent for longer than `olderThanMs` — a worker cut off from Postgres in the middle
 * of a batch (its link silent, not closed). Postgres cannot tell such a session from a slow
 * one: it sits in ClientRead, mid-statement or between statements, holding row locks on the
 * very events a peer took over, and the peer's write waits on them for ever. Ending it is safe:
 * its entries were taken over or stay pending, and every write is idempotent.
 * Returns how many sessions were ended.
 */
export async function endStuckWriters(db: Database, olderThanMs: number): Promise<number> {
  const prefix = `${WORKER_APPLICATION_PREFIX}%`
  const rows = await db.execute<{ ended: boolean }>(sql`
    select pg_terminate_backend(stuck.pid) as ended
    from pg_stat_activity stuck
    where stuck.pid in (
        select unnest(pg_blocking_pids(waiting.pid)) from pg_stat_activity waiting
        where waiting.application_name like ${prefix} and waiting.wait_event_type = 'Lock')
      and stuck.application_name like ${prefix}
      and stuck.wait_event = 'ClientRead'
      and stuck.xact_start is not null
      and stuck.state_change < now() - make_interval(secs => ${olderThanMs / 1000})`)
  return rows.filter((r) => r.ended).length
}
