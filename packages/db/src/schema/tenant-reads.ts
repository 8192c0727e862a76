import { sql } from 'drizzle-orm'
import { pgPolicy, pgRole } from 'drizzle-orm/pg-core'

/**
 * The role dashboard reads run as (readSnapshot in metrics.ts switches to it for each read
 * transaction). It is not the tables' owner, so row-level security applies to it, and it may
 * only SELECT the tables the read API reads (drizzle/0012_tenant_reads.sql grants them; every
 * other table refuses it). It has no LOGIN: nobody connects as it.
 */
export const TENANT_READER_ROLE = 'tributary_reader'
/** The transaction-local setting that names the one tenant a read transaction may see. */
export const READ_TENANT_SETTING = 'tributary.tenant_id'

// Made by migration 0012 itself (idempotently: the role is shared by every database of the cluster).
const tenantReader = pgRole(TENANT_READER_ROLE).existing()

/**
 * Defence in depth for F21 (a read path that forgot its `where tenant_id = …`): as the reader
 * role, a table shows only the rows of the tenant the transaction named. The subselect makes
 * the setting an init plan, read once per statement instead of once per row. Unset, the
 * setting is an error or '' (not a uuid): a read that did not name a tenant fails, it never
 * sees every tenant. The owner (the app's role: ingest, workers, migrations) is not subject
 * to it: RLS is enabled, not forced.
 */
export function tenantReads(table: string) {
  return pgPolicy(`${table}_tenant_reads`, {
    as: 'permissive',
    for: 'select',
    to: tenantReader,
    using: sql.raw(`tenant_id = (select current_setting('${READ_TENANT_SETTING}')::uuid)`),
  })
}
