import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { createDatabase, runMigrations } from '@tributary/db'
import { startTestServers, type TestServers } from './test-servers.ts'

/**
 * Test fixtures over real servers. Under `pnpm test` the servers come from
 * TEST_DATABASE_URL / TEST_REDIS_URL; a test file run on its own starts its own pair once
 * (stopped when the process exits). Each caller gets a fresh, migrated database and a
 * Redis database of its own, both removed or flushed at teardown.
 */

interface Teardown {
  teardown(fn: () => unknown): void
}

let ownServers: Promise<TestServers> | undefined

async function serverUrls(): Promise<{ databaseUrl: string; redisUrl: string }> {
  const { TEST_DATABASE_URL, TEST_REDIS_URL } = process.env
  if (TEST_DATABASE_URL && TEST_REDIS_URL) return { databaseUrl: TEST_DATABASE_URL, redisUrl: TEST_REDIS_URL }
  ownServers ??= startTestServers().then((servers) => {
    process.once('beforeExit', () => void servers.stop())
    return servers
  })
  return ownServers
}

/** Stops the servers this process started itself, if any (call from the file's last teardown). */
export async function stopOwnServers() {
  if (ownServers) await (await ownServers).stop()
  ownServers = undefined
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

export interface TestDatabase {
  url: string
  name: string
  db: ReturnType<typeof createDatabase>['db']
  sql: postgres.Sql
}

export async function testDatabase(t: Teardown, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const { databaseUrl } = await serverUrls()
  const name = `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = withDatabase(databaseUrl, name)
  if (options.migrate !== false) await runMigrations(url)
  const { db, sql, close } = createDatabase(url, { applicationName: 'tributary-test', maxConnections: 5 })
  t.teardown(async () => {
    await close()
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end({ timeout: 2 })
  })
  return { url, name, db, sql }
}

export interface TestRedis {
  url: string
  redis: Redis
}

export async function testRedis(t: Teardown): Promise<TestRedis> {
  const { redisUrl } = await serverUrls()
  const control = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  const databases = Number(((await control.config('GET', 'databases')) as string[])[1] ?? 16)
  const ticket = await control.incr('tributary-test:next-db')
  control.disconnect()
  // Database 0 holds the ticket counter; files share the rest round-robin.
  const index = 1 + (ticket % (databases - 1))
  const url = `${redisUrl.replace(/\/\d*$/, '')}/${index}`
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  await redis.flushdb()
  t.teardown(async () => {
    await redis.flushdb().catch(() => {})
    redis.disconnect()
  })
  return { url, redis }
}
