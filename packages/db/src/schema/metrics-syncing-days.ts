import { boolean, date, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Dirty days that cleanup-and-sync has taken and is recomputing. Taking them (moving the
 * rows here) commits at once: had the sync kept metrics_dirty_days rows deleted for the
 * length of its recompute, every worker marking the same (tenant, day) — each batch marks
 * today — would wait on that uncommitted delete, and all writes would stall for the whole
 * sync. A sync that dies midway leaves its days here, and the next one recomputes them.
 */
export const metricsSyncingDays = pgTable(
  'metrics_syncing_days',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    recomputeActivities: boolean().notNull().default(true),
  },
  (t) => [primaryKey({ name: 'metrics_syncing_days_pkey', columns: [t.tenantId, t.date] })],
)
