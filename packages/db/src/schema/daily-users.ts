import { date, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Retired: per-day user lists, replaced by daily_user_bitmaps. Kept (no longer written or
 * read) so that replicas of the previous release keep working during a rolling upgrade;
 * a later migration drops it.
 */
export const dailyUsers = pgTable(
  'daily_users',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    userKey: text().notNull(),
  },
  (t) => [primaryKey({ name: 'daily_users_pkey', columns: [t.tenantId, t.date, t.userKey] })],
)
