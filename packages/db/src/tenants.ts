import { eq } from 'drizzle-orm'
import { uuidv7 } from '@tributary/shared'
import type { Database } from './client.ts'
import { issueKey } from './api-keys.ts'
import { tenants } from './schema/index.ts'

export interface CreatedTenant {
  tenantId: string
  name: string
  timezone: string
  writeKey: string
  readKey: string
}

export class TenantExistsError extends Error {
  constructor(name: string) {
    super(`a tenant named "${name}" already exists`)
    this.name = 'TenantExistsError'
  }
}

export class InvalidTimezoneError extends Error {
  constructor(timezone: string) {
    super(`unknown timezone "${timezone}": use an IANA name such as UTC or Europe/Paris`)
    this.name = 'InvalidTimezoneError'
  }
}

export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone })
    return true
  } catch {
    return false
  }
}

/** Creates a tenant with one write key and one read key, in one transaction. */
export async function createTenant(db: Database, name: string, timezone = 'UTC'): Promise<CreatedTenant> {
  if (!isValidTimezone(timezone)) throw new InvalidTimezoneError(timezone)
  return db.transaction(async (tx) => {
    const tenantId = uuidv7()
    const inserted = await tx
      .insert(tenants)
      .values({ id: tenantId, name, timezone })
      .onConflictDoNothing({ target: tenants.name })
      .returning({ id: tenants.id })
    if (inserted.length === 0) throw new TenantExistsError(name)
    const write = await issueKey(tx, tenantId, 'write')
    const read = await issueKey(tx, tenantId, 'read')
    return { tenantId, name, timezone, writeKey: write.key, readKey: read.key }
  })
}

export async function findTenantByName(db: Database, name: string) {
  const rows = await db.select().from(tenants).where(eq(tenants.name, name)).limit(1)
  return rows[0]
}

export async function listTenants(db: Database) {
  return db.select().from(tenants).orderBy(tenants.createdAt)
}
