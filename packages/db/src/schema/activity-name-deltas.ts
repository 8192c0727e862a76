import { date, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * What each worker batch added to the top pages and top event names, written in the batch's
 * own transaction with activity_deltas (so exactly once with its rows): per (tenant, local
 * day, type, action, page), the events the batch inserted. Cleanup-and-sync takes them in the
 * statement that takes activity_deltas and adds them to daily_pages and daily_event_names.
 * Append-only between syncs, no key and no index, like activity_deltas. A batch writes one
 * row per distinct (day, type, action, page) it holds: a few dozen for an app's routes, up
 * to one per event when every page is a distinct URL.
 */
export const activityNameDeltas = pgTable('activity_name_deltas', {
  tenantId: uuid()
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  date: date({ mode: 'string' }).notNull(),
  type: text().notNull(),
  action: text(),
  page: text(),
  events: integer().notNull(),
})
