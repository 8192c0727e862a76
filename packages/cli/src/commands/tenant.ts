import { createTenant, listTenants, type Database } from '@tributary/db'
import type { Output } from '../output.ts'

export async function tenantCreate(db: Database, out: Output, name: string, timezone: string) {
  const created = await createTenant(db, name, timezone)
  if (out.json) return out.data({ tenantId: created.tenantId, writeKey: created.writeKey, readKey: created.readKey })
  out.line(`tenant    ${created.name} (${created.tenantId}), timezone ${created.timezone}`)
  out.line(`write key ${created.writeKey}   ingest only; may ship inside apps and browsers`)
  out.line(`read key  ${created.readKey}   dashboards and sync; keep it secret`)
  out.line('These keys are shown once and stored only as hashes. Lost keys can be replaced with `keys rotate`.')
}

export async function tenantList(db: Database, out: Output) {
  const rows = await listTenants(db)
  if (out.json) return out.data(rows.map((r) => ({ tenantId: r.id, name: r.name, timezone: r.timezone, createdAt: r.createdAt.toISOString() })))
  if (rows.length === 0) return out.line('no tenants yet: pnpm tributary tenant create <name>')
  out.table(
    ['name', 'id', 'timezone', 'created'],
    rows.map((r) => [r.name, r.id, r.timezone, r.createdAt.toISOString()]),
  )
}
