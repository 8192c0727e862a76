import { createHash, randomBytes } from 'node:crypto'
import { and, eq, isNull } from 'drizzle-orm'
import { uuidv7 } from '@tributary/shared'
import type { Database } from './client.ts'
import { apiKeys, type ApiKeyKind } from './schema/index.ts'

const KIND_PREFIX: Record<ApiKeyKind, string> = { write: 'wk_', read: 'rk_' }
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const SECRET_LENGTH = 32
/** `wk_` plus 8 characters: enough to find the row, far too little to guess the rest. */
export const DISPLAY_PREFIX_LENGTH = 11

/** 32 base62 characters ≈ 190 bits from the OS's CSPRNG (rejection sampling keeps it uniform). */
function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62]
    }
  }
  return out
}

export function generateKey(kind: ApiKeyKind): string {
  return KIND_PREFIX[kind] + randomBase62(SECRET_LENGTH)
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH)
}

/** The kind a key's own prefix claims; the stored row decides, this only rejects garbage early. */
export function kindOfKey(key: string): ApiKeyKind | undefined {
  if (key.startsWith(KIND_PREFIX.write)) return 'write'
  if (key.startsWith(KIND_PREFIX.read)) return 'read'
  return undefined
}

type Executor = Pick<Database, 'insert' | 'update' | 'select'>

/** Creates and stores a key; the plain key is returned once and never stored. */
export async function issueKey(db: Executor, tenantId: string, kind: ApiKeyKind) {
  const key = generateKey(kind)
  const id = uuidv7()
  await db.insert(apiKeys).values({ id, tenantId, kind, prefix: displayPrefix(key), hash: hashKey(key) })
  return { id, key, prefix: displayPrefix(key) }
}

/** Revokes one key by its display prefix (or id). Returns how many keys were revoked. */
export async function revokeKey(db: Database, prefixOrId: string): Promise<number> {
  const column = /^[0-9a-f-]{36}$/i.test(prefixOrId) ? apiKeys.id : apiKeys.prefix
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(column, prefixOrId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id })
  return rows.length
}

/**
 * Issues a new key of `kind` for the tenant. The old keys stay valid until revoked, so a
 * deployment can roll the new key out first and revoke the old one afterwards.
 */
export async function rotateKey(db: Database, tenantId: string, kind: ApiKeyKind) {
  return issueKey(db, tenantId, kind)
}

export async function listKeys(db: Database, tenantId: string) {
  return db
    .select({ id: apiKeys.id, kind: apiKeys.kind, prefix: apiKeys.prefix, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(apiKeys.createdAt)
}
