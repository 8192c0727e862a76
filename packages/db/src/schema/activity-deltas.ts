import { date, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * What each worker batch added to the daily metrics, written in the batch's own transaction
 * (so exactly once with its rows): per (tenant, local day, user key), the events and page
 * views the batch inserted. Cleanup-and-sync takes the rows (DELETE … RETURNING), adds the
 * counts to platform_metrics and sets the users' bits in daily_user_bitmaps, so a sync costs
 * what was written since the last one, not the size of the day. Append-only between syncs:
 * no primary key and no index to keep up per batch. A batch writes one row per user and day
 * it touches, far fewer than its events, so the foreign key's per-row check (what
 * user_activities dropped, migration 0006) costs little here and keeps ON DELETE CASCADE.
 */
export const activityDeltas = pgTable('activity_deltas', {
  tenantId: uuid()
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  date: date({ mode: 'string' }).notNull(),
  userKey: text().notNull(),
  events: integer().notNull(),
  pageViews: integer().notNull(),
})
