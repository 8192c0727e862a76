import { sql } from 'drizzle-orm'
import { bigint, date, doublePrecision, index, integer, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'
import { tenantReads } from './tenant-reads.ts'

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
     * The day's raw rows counted into daily_pages and daily_event_names when they were last
     * built. While it equals `events` they are the day's whole pages and names; once later
     * rows have added to `events` (today's, always, and a late event's day), the top pages
     * and events read the day from its raw rows until the sync builds them again
     * (docs/worker.md, Top pages and events).
     */
    namedEvents: bigint({ mode: 'number' }).notNull().default(0),
    /** `events` when daily_pages and daily_event_names were last built for the day, and when. */
    namesBuiltEvents: bigint({ mode: 'number' }).notNull().default(0),
    namesBuiltAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'platform_metrics_pkey', columns: [t.tenantId, t.date] }),
    // The days whose top pages and events are not whole: each tenant's today, days with late
    // events, and days not built yet (every day before migration 0011 until built).
    index('platform_metrics_unnamed_idx').on(t.tenantId, t.date).where(sql`${t.namedEvents} <> ${t.events}`),
    tenantReads('platform_metrics'),
  ],
)

export type PlatformMetric = typeof platformMetrics.$inferSelect
