import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDatabase, createTenant, findTenantByName, TenantExistsError } from '@tributary/db'
import { STATE_DIR } from './paths.ts'

export const DEMO_TENANT = 'demo'
const KEYS_FILE = join(STATE_DIR, 'demo-keys.json')

export interface DemoKeys {
  tenantId: string
  writeKey: string
  readKey: string
}

/**
 * Makes sure the `demo` tenant exists. Keys are stored hashed, so they can be shown only
 * when made; for the local stack they are also kept in `.tributary/demo-keys.json`
 * (mode 600) so every `pnpm start` can print them again.
 */
export async function ensureDemoTenant(databaseUrl: string, rememberKeys: boolean): Promise<{ created: boolean; keys?: DemoKeys }> {
  const { db, close } = createDatabase(databaseUrl, { applicationName: 'tributary-start', maxConnections: 1 })
  try {
    const existing = await findTenantByName(db, DEMO_TENANT)
    if (existing) {
      if (rememberKeys && existsSync(KEYS_FILE)) {
        const keys = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as DemoKeys
        if (keys.tenantId === existing.id) return { created: false, keys }
      }
      return { created: false }
    }
    try {
      const created = await createTenant(db, DEMO_TENANT)
      const keys = { tenantId: created.tenantId, writeKey: created.writeKey, readKey: created.readKey }
      if (rememberKeys) writeFileSync(KEYS_FILE, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 })
      return { created: true, keys }
    } catch (err) {
      if (err instanceof TenantExistsError) return { created: false }
      throw err
    }
  } finally {
    await close()
  }
}
