import { index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenantReads } from './tenant-reads.ts'

export const userActivities = pgTable(
  'user_activities',
  {
    /**
     * No foreign key, on purpose: Postgres checks one row by row (a SELECT … FOR KEY SHARE
     * on tenants per inserted row), which was ~45 % of its CPU in the worker's COPY. The
     * worker checks and locks a batch's tenants once per batch instead (write-batch.ts),
     * and triggers on tenants remove a deleted or truncated tenant's activities
     * (drizzle/0006_activities_tenant_check.sql), so both halves of the old constraint hold.
     */
    tenantId: uuid().notNull(),
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
    tenantReads('user_activities'),
  ],
)

export type UserActivity = typeof userActivities.$inferSelect
export type NewUserActivity = typeof userActivities.$inferInsert
