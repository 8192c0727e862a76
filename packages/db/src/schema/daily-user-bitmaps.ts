import { bit, date, integer, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core'
import { USERS_PER_BITMAP } from '@tributary/shared'
import { tenants } from './tenants.ts'
import { tenantReads } from './tenant-reads.ts'

/**
 * Who was active on each day (tenant timezone), kept with platform_metrics by
 * cleanup-and-sync: bit n of chunk c is set when user number c × USERS_PER_BITMAP + n
 * (tenant_users) had an activity that day. Distinct users over a range are the set bits of
 * the OR of its days, chunk by chunk — a few thousand 1 KB rows for a year of 50,000 users,
 * instead of one row per user per active day.
 */
export const dailyUserBitmaps = pgTable(
  'daily_user_bitmaps',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    chunk: integer().notNull(),
    users: bit({ dimensions: USERS_PER_BITMAP }).notNull(),
  },
  (t) => [primaryKey({ name: 'daily_user_bitmaps_pkey', columns: [t.tenantId, t.date, t.chunk] }), tenantReads('daily_user_bitmaps')],
)
