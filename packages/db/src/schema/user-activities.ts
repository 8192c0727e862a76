import { index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

export const userActivities = pgTable(
  'user_activities',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** The idempotency key: a client eventId/messageId, or a server UUIDv7. */
    eventId: text().notNull(),
    sessionId: text(),
    userKey: text().notNull(),
    type: text().notNull(),
    page: text(),
    action: text(),
    metadata: jsonb().$type<Record<string, unknown>>(),
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    receivedAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    // The unique (tenant_id, event_id) key is what makes redelivery harmless.
    primaryKey({ name: 'user_activities_pkey', columns: [t.tenantId, t.eventId] }),
    index('user_activities_tenant_occurred_idx').on(t.tenantId, t.occurredAt),
  ],
)

export type UserActivity = typeof userActivities.$inferSelect
export type NewUserActivity = typeof userActivities.$inferInsert
