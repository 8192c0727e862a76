import { bigint, date, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { tenants } from './tenants.ts'
import { tenantReads } from './tenant-reads.ts'

/**
 * Page views per page and local day, built by cleanup-and-sync from each past day's raw rows
 * (docs/worker.md, Top pages and events): what `historical/pages` adds up over a range,
 * instead of every raw row of it (a second and more for a year of 10M events). Keyed by the
 * first 16 bytes of the page's SHA-256 as a uuid (aggregator.ts, keyOf): a page may be 2,048
 * characters, past what a btree key holds.
 */
export const dailyPages = pgTable(
  'daily_pages',
  {
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    date: date({ mode: 'string' }).notNull(),
    /** keyOf(page) */
    pageKey: uuid().notNull(),
    page: text().notNull(),
    views: bigint({ mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'daily_pages_pkey', columns: [t.tenantId, t.date, t.pageKey] }), tenantReads('daily_pages')],
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
    /** keyOf(type, zero byte, name) */
    nameKey: uuid().notNull(),
    name: text().notNull(),
    type: text().notNull(),
    events: bigint({ mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'daily_event_names_pkey', columns: [t.tenantId, t.date, t.nameKey] }), tenantReads('daily_event_names')],
)
