import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { startTestServers, type TestServers } from './test-servers.ts'

/**
 * Test fixtures over real servers. Under `pnpm test` the servers come from
 * TEST_DATABASE_URL / TEST_REDIS_URL; a test file run on its own starts its own pair once
 * (stopped when the process is about to exit). Each caller gets an empty database or a
 * Redis database of its own, dropped or flushed at teardown.
 */

export interface Teardown {
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

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

export interface EmptyDatabase {
  url: string
  name: string
  /** A small postgres.js pool on the new database, ended at teardown. */
  sql: postgres.Sql
}

export async function emptyDatabase(t: Teardown): Promise<EmptyDatabase> {
  const { databaseUrl } = await serverUrls()
  const name = `test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = withDatabase(databaseUrl, name)
  const sql = postgres(url, { max: 3, onnotice: () => {} })
  t.teardown(async () => {
    await sql.end({ timeout: 2 })
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    // The reader role Tributary's migration 0012 made for it (roles outlive their database).
    await admin.unsafe(`drop role if exists tributary_read_${name}`)
    await admin.end({ timeout: 2 })
  })
  return { url, name, sql }
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

/** A destination for a pino logger in a test: each JSON line written to it, parsed, in `lines`. */
export function jsonLines<T = Record<string, unknown>>(): { sink: Writable; lines: T[] } {
  const lines: T[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as T)
      done()
    },
  })
  return { sink, lines }
}

/** `promise`'s value, or 'timeout' when it has not settled within `ms` (for what may hang). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref())])
}
