import { bigint, date, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'

/**
 * Page views per page and local day, kept by cleanup-and-sync with platform_metrics: what
 * `historical/pages` adds up over a range, instead of every raw row of it (a second and more
 * for a year of 10M events). Keyed by the md5 of the page as a uuid: a page may be 2,048
 * characters, past what a btree key holds, and 16 bytes index faster than the text.
 */
export const dailyPages = pgTable(
  'daily_pages',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    /** md5(page)::uuid */
    pageKey: uuid().notNull(),
    page: text().notNull(),
    views: bigint({ mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'daily_pages_pkey', columns: [t.tenantId, t.date, t.pageKey] })],
)

/**
 * Events per name (an action's name, else the type) and type, per local day, for
 * `historical/events`; kept as daily_pages is.
 */
export const dailyEventNames = pgTable(
  'daily_event_names',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    /** md5(type || E'\n' || name)::uuid */
    nameKey: uuid().notNull(),
    name: text().notNull(),
    type: text().notNull(),
    events: bigint({ mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'daily_event_names_pkey', columns: [t.tenantId, t.date, t.nameKey] })],
)
