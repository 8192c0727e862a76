import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/** The last cleanup-and-sync run per scope ('all', or a tenant id for POST /sync), for `pnpm tributary status`. */
export const syncRuns = pgTable('sync_runs', {
  scope: text().primaryKey(),
  lastRunAt: timestamp({ withTimezone: true }).notNull(),
  durationMs: integer().notNull(),
  syncedDays: integer().notNull(),
  sessionsClosed: integer().notNull(),
})
