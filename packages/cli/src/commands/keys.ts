import { eq, or } from 'drizzle-orm'
import { displayPrefix, kindOfKey, listKeys, revokeKey, rotateKey, tenants, type Database } from '@tributary/db'
import { UsageError } from '../config.ts'
import type { Output } from '../output.ts'

/** A tenant by name, or by id; a usage error naming what was asked for when there is none. */
export async function findTenant(db: Database, nameOrId: string) {
  const isUuid = /^[0-9a-f-]{36}$/i.test(nameOrId)
  const rows = await db
    .select()
    .from(tenants)
    .where(isUuid ? or(eq(tenants.id, nameOrId), eq(tenants.name, nameOrId)) : eq(tenants.name, nameOrId))
    .limit(1)
  if (!rows[0]) throw new UsageError(`no tenant named or with id "${nameOrId}" (pnpm tributary tenant list)`)
  return rows[0]
}

export async function keysRotate(db: Database, out: Output, tenantRef: string, kind: 'write' | 'read') {
  const tenant = await findTenant(db, tenantRef)
  const issued = await rotateKey(db, tenant.id, kind)
  if (out.json) return out.data({ tenantId: tenant.id, kind, key: issued.key, prefix: issued.prefix })
  out.line(`new ${kind} key for ${tenant.name}: ${issued.key}`)
  out.line(`Shown once. The old ${kind} keys still work: revoke each with \`pnpm tributary keys revoke <prefix>\` once clients use the new one.`)
}

/**
 * What `keys revoke` was given, as a prefix or key id: the prefix as `keys list` shows it
 * (with its "…"), or a whole key pasted in, which stands for its prefix and is never
 * printed back.
 */
export function revokeTarget(given: string): string {
  const ref = given.replace(/(…|\.\.\.)$/u, '')
  return kindOfKey(ref) !== undefined && ref.length > displayPrefix(ref).length ? displayPrefix(ref) : ref
}

/** Revokes in Postgres, then tells every ingest process to forget its cached key checks. */
export async function keysRevoke(db: Database, out: Output, given: string, announce: () => Promise<boolean>) {
  const prefixOrId = revokeTarget(given)
  const revoked = await revokeKey(db, prefixOrId)
  if (revoked === 0) throw new UsageError(`no active key with prefix or id "${prefixOrId}" (pnpm tributary keys list <tenant>)`)
  const announced = await announce()
  if (out.json) return out.data({ revoked, announced })
  out.line(
    `revoked ${revoked} key${revoked === 1 ? '' : 's'} (${prefixOrId}); ` +
      (announced ? 'running ingest processes refuse it now' : 'Redis was not reachable: running ingest processes refuse it within KEY_CACHE_TTL_MS'),
  )
}

export async function keysList(db: Database, out: Output, tenantRef: string) {
  const tenant = await findTenant(db, tenantRef)
  const rows = await listKeys(db, tenant.id)
  if (out.json) return out.data(rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString(), revokedAt: r.revokedAt?.toISOString() ?? null })))
  out.table(
    ['prefix', 'kind', 'created', 'revoked'],
    rows.map((r) => [r.prefix + '…', r.kind, r.createdAt.toISOString(), r.revokedAt?.toISOString() ?? '']),
  )
}
