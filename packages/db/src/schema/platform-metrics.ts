import { bigint, date, doublePrecision, integer, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/** One row per tenant per calendar day (in the tenant's timezone), kept up by cleanup-and-sync (docs/worker.md). */
export const platformMetrics = pgTable(
  'platform_metrics',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    activeUsers: integer().notNull().default(0),
    sessions: integer().notNull().default(0),
    avgSessionDurationSeconds: doublePrecision().notNull().default(0),
    /** Sessions started that day that have ended: the weight of the average across days. */
    endedSessions: integer().notNull().default(0),
    /** bigint: one tenant at ~25,000 events/s for a day passes 2^31 (drizzle/0009). */
    events: bigint({ mode: 'number' }).notNull().default(0),
    pageViews: bigint({ mode: 'number' }).notNull().default(0),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'platform_metrics_pkey', columns: [t.tenantId, t.date] })],
)

export type PlatformMetric = typeof platformMetrics.$inferSelect
