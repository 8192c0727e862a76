import { sql } from 'drizzle-orm'
import { boolean, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

export const userSessions = pgTable(
  'user_sessions',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** Client-chosen or server-generated (UUIDv7); unique per tenant. */
    id: text().notNull(),
    /** userId when known, else anonymousId: the identity metrics count. */
    userKey: text().notNull(),
    userId: text(),
    anonymousId: text(),
    startedAt: timestamp({ withTimezone: true }).notNull(),
    lastSeenAt: timestamp({ withTimezone: true }).notNull(),
    endedAt: timestamp({ withTimezone: true }),
    isActive: boolean().notNull().default(true),
    /**
     * Ended by cleanup-and-sync's timeout (ended_at = last_seen_at then), not by the client: a
     * provisional end that a later-arriving activity of the session reopens, or an explicit
     * end replaces, so the session comes out the same whatever order its parts arrived in.
     */
    timedOut: boolean().notNull().default(false),
    device: text(),
    platform: text(),
    browser: text(),
    os: text(),
    referrer: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'user_sessions_pkey', columns: [t.tenantId, t.id] }),
    index('user_sessions_tenant_started_idx').on(t.tenantId, t.startedAt),
    index('user_sessions_tenant_user_last_seen_idx').on(t.tenantId, t.userKey, t.lastSeenAt),
    // The idle-session sweep only ever looks at active sessions.
    index('user_sessions_active_last_seen_idx').on(t.lastSeenAt).where(sql`${t.isActive}`),
  ],
)

export type UserSession = typeof userSessions.$inferSelect
