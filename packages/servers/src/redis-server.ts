import { spawn } from 'node:child_process'
import { mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { ensureBinary, REDIS_SERVER } from './binaries.ts'
import { stopProcess, waitUntil } from './processes.ts'

export interface RedisServerOptions {
  port: number
  /** Data (AOF) and log live here. */
  dir: string
  /**
   * `always` fsyncs every write before Redis answers, so an XADD that ingest acknowledged
   * survives a crash of Redis or of the machine. `everysec` may lose the last second.
   */
  appendfsync?: 'always' | 'everysec'
  /** Redis databases; tests give each test file its own. */
  databases?: number
  /** Skip RDB snapshots (throwaway servers). */
  noSnapshots?: boolean
}

export interface RunningServer {
  pid: number
  url: string
  stop(): Promise<void>
}

/** Shipped in infra/docker-compose.yml too; see infra/README.md. */
export const AOF_REWRITE_MIN_SIZE = '1gb'

export function redisArgs(options: RedisServerOptions): string[] {
  const args = [
    '--port', String(options.port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--dir', options.dir,
    '--daemonize', 'no',
    '--appendonly', 'yes',
    '--appendfsync', options.appendfsync ?? 'always',
    // Evicting a stream entry or a dedup key would silently lose or double events.
    '--maxmemory-policy', 'noeviction',
    // Each rewrite forks and writes the whole dataset (backlog and seen ids); at the default
    // 64 MB, 1,000 requests/s of 50 events (~3.4 KB of AOF each) would start one every ~20 s.
    '--auto-aof-rewrite-min-size', AOF_REWRITE_MIN_SIZE,
    // A seen-id set that expires is freed in a background thread. Freed in the main thread
    // (the default), a set of 3 M ids held every command for 1.1 s here; at 50,000 events/s one
    // set of the 1 h window holds 60 M.
    '--lazyfree-lazy-expire', 'yes',
    '--databases', String(options.databases ?? 16),
  ]
  if (options.noSnapshots) args.push('--save', '')
  return args
}

export async function pingRedis(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 1_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
  } finally {
    client.disconnect()
  }
}

/** Starts redis-server in its own process group (Ctrl-C reaches it only through stop()). */
export async function startRedis(options: RedisServerOptions): Promise<RunningServer> {
  const binary = ensureBinary(REDIS_SERVER)
  mkdirSync(options.dir, { recursive: true })
  const log = openSync(join(options.dir, 'redis.log'), 'a')
  const child = spawn(binary, redisArgs(options), { detached: true, stdio: ['ignore', log, log] })
  child.unref()
  let exited: string | undefined
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}; see ${join(options.dir, 'redis.log')}`))
  const url = `redis://127.0.0.1:${options.port}`
  await waitUntil('redis-server', () => pingRedis(url), 15_000, () => exited)
  const pid = child.pid!
  return { pid, url, stop: async () => void (await stopProcess(pid, 'SIGTERM')) }
}
