import { date, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Who was active on each day (tenant timezone), rebuilt with platform_metrics by
 * cleanup-and-sync. Distinct users over a range are counted here — one row per user per
 * active day — instead of over every raw activity of the range.
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
