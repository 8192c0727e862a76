import { sql } from 'drizzle-orm'
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

export const API_KEY_KINDS = ['write', 'read'] as const
export type ApiKeyKind = (typeof API_KEY_KINDS)[number]

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid().primaryKey(),
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kind: text().$type<ApiKeyKind>().notNull(),
    /** The first characters of the key, shown in listings and used to find the row. */
    prefix: text().notNull(),
    /** Hex SHA-256 of the whole key; the key itself is never stored. */
    hash: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    check('api_keys_kind_check', sql`${t.kind} in ('write', 'read')`),
    uniqueIndex('api_keys_hash_key').on(t.hash),
    index('api_keys_prefix_idx').on(t.prefix),
    index('api_keys_tenant_id_idx').on(t.tenantId),
  ],
)

export type ApiKey = typeof apiKeys.$inferSelect
