import { sql } from 'drizzle-orm'
import { bigint, date, doublePrecision, index, integer, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core'
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
    /**
     * The day's events counted into daily_pages and daily_event_names. Equal to `events`
     * when those are whole for the day; not, for a day written before they existed (0, after
     * migration 0011) or by a worker older than them. The top pages and events read such a
     * day from its raw rows; a recompute makes it whole (docs/worker.md).
     */
    namedEvents: bigint({ mode: 'number' }).notNull().default(0),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'platform_metrics_pkey', columns: [t.tenantId, t.date] }),
    // The days whose top pages and events are not whole: few, once the rebuild has caught up.
    index('platform_metrics_unnamed_idx').on(t.tenantId, t.date).where(sql`${t.namedEvents} <> ${t.events}`),
  ],
)

export type PlatformMetric = typeof platformMetrics.$inferSelect
