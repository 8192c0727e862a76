import { date, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Days whose platform_metrics row is out of date: the worker marks (tenant, day) here in
 * the same transaction that writes the events or sessions, and cleanup-and-sync recomputes
 * exactly these days, so a sync costs what was touched, not the size of the tables.
 */
export const metricsDirtyDays = pgTable(
  'metrics_dirty_days',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    markedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'metrics_dirty_days_pkey', columns: [t.tenantId, t.date] })],
)
