import { sql } from 'drizzle-orm'
import { pgPolicy, pgTable, text } from 'drizzle-orm/pg-core'

/** The transaction-local setting that names the one tenant a read transaction may see. */
export const READ_TENANT_SETTING = 'tributary.tenant_id'

/**
 * The role dashboard reads run as, one per database: readSnapshot (metrics.ts) switches to
 * it inside each read transaction. Migration 0012 names it `tributary_read_<database>` (see
 * infra/README.md, "Postgres roles"), makes it when it may, and records the name here (one
 * row), so that renaming the database later changes nothing. The role has no LOGIN, is not
 * the tables' owner, and may only SELECT the tables the read API reads (0012 grants them;
 * every other table refuses it). One role per database, not one per cluster: a role shared by
 * two Tributary databases would let either's app role read the other's rows.
 */
export const readerRole = pgTable('reader_role', {
  name: text().primaryKey(),
})

/**
 * Defence in depth for F21 (a read path that forgot its `where tenant_id = …`): the rows a
 * role subject to row-level security may see are those of the tenant its transaction named.
 * The tables' owner (the app's role: ingest's key checks, workers, sync, migrations, CLI) is
 * not subject to it (RLS is enabled, not forced); the reader role is, and so would be any
 * other role granted SELECT later. The subselect makes the setting an init plan, read once
 * per statement instead of once per row. Unset, the setting is an error or '' (not a uuid):
 * a read that named no tenant fails, it never sees every tenant.
 */
export function tenantReads(table: string) {
  return pgPolicy(`${table}_tenant_reads`, {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql.raw(`tenant_id = (select current_setting('${READ_TENANT_SETTING}')::uuid)`),
  })
}
