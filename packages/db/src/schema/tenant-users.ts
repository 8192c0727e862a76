import { integer, pgTable, primaryKey, text, unique, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * A small number for every user key of a tenant (0, 1, 2, … in order of first sync), so a
 * day's active users fit in bitmaps (daily_user_bitmaps). Numbers are handed out by
 * cleanup-and-sync only, which runs one at a time under its advisory lock; the unique
 * constraint makes a second writer fail rather than share a number.
 */
export const tenantUsers = pgTable(
  'tenant_users',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    userKey: text().notNull(),
    userNumber: integer().notNull(),
  },
  (t) => [primaryKey({ name: 'tenant_users_pkey', columns: [t.tenantId, t.userKey] }), unique('tenant_users_number_key').on(t.tenantId, t.userNumber)],
)
