import { boolean, date, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Days whose platform_metrics row is out of date, for cleanup-and-sync to recompute. The
 * worker marks the start days of the sessions it writes here, in the same transaction
 * (recomputeActivities false: the session columns are recomputed from user_sessions; the
 * activity columns follow activity_deltas). A mark with recomputeActivities true asks for
 * the whole day from the raw tables: for rows written other than by the worker (a restore,
 * a repair, the reads bench), and for marks left by workers older than activity_deltas.
 */
export const metricsDirtyDays = pgTable(
  'metrics_dirty_days',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    recomputeActivities: boolean().notNull().default(true),
    markedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'metrics_dirty_days_pkey', columns: [t.tenantId, t.date] })],
)
