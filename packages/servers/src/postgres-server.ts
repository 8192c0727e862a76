import { spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { ensureBinary, INITDB, POSTGRES } from './binaries.ts'
import { stopProcess, waitUntil } from './processes.ts'
import type { RunningServer } from './redis-server.ts'

export const SUPERUSER = 'tributary'
export const DATABASE = 'tributary'

export interface PostgresServerOptions {
  port: number
  /** The cluster (initdb'd on first use); the log sits beside it. */
  dataDir: string
  /** Throwaway test servers turn fsync off: much faster, and nothing there must survive. */
  fsync?: boolean
}

interface UnixUser {
  uid: number
  gid: number
}

/** Postgres refuses to run as root; as root we run it as the `postgres` system user. */
function unprivilegedUser(): UnixUser | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' })
  let uid = id('-u')
  if (uid.status !== 0) {
    spawnSync('useradd', ['--system', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/sh', 'postgres'], { stdio: 'ignore' })
    uid = id('-u')
  }
  if (uid.status !== 0) throw new Error('running as root and there is no `postgres` user to run Postgres as (useradd --system postgres)')
  return { uid: Number(uid.stdout.trim()), gid: Number(id('-g').stdout.trim()) }
}

/** Whether `user` can reach `dir` (it and every parent searchable by that user). */
export function userCanEnter(dir: string, user: UnixUser | undefined): boolean {
  if (!user) return true
  return spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid }).status === 0
}

function initCluster(dataDir: string, user: UnixUser | undefined) {
  const initdb = ensureBinary(INITDB)
  // Parents must stay searchable by the postgres user; only the cluster itself is private.
  mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 })
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  if (user) {
    if (!userCanEnter(dirname(dataDir), user)) throw new Error(`the postgres user cannot reach ${dirname(dataDir)}; choose a data folder it can enter`)
    chownSync(dataDir, user.uid, user.gid)
  }
  const result = spawnSync(initdb, ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions'], {
    encoding: 'utf8',
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  })
  if (result.status !== 0) throw new Error(`initdb failed for ${dataDir}: ${result.stderr || result.stdout}`)
}

export async function queryPostgres<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
  try {
    return await run(sql)
  } finally {
    await sql.end({ timeout: 1 })
  }
}

export function postgresUrl(port: number, database = DATABASE): string {
  return `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`
}

/**
 * Starts a Postgres cluster bound to 127.0.0.1 (initdb on first use), waits until it
 * answers and makes sure the `tributary` database exists.
 */
export async function startPostgres(options: PostgresServerOptions): Promise<RunningServer> {
  const binary = ensureBinary(POSTGRES)
  const user = unprivilegedUser()
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) initCluster(options.dataDir, user)
  const logPath = `${options.dataDir}.log`
  const log = openSync(logPath, 'a')
  if (user) chownSync(logPath, user.uid, user.gid)
  const args = [
    '-D', options.dataDir,
    '-p', String(options.port),
    '-c', 'listen_addresses=127.0.0.1',
    // The socket goes in the data dir: /var/run/postgresql may not exist or be writable.
    '-c', `unix_socket_directories=${options.dataDir}`,
    '-c', 'max_connections=200',
  ]
  if (options.fsync === false) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off')
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', log, log], ...(user ? { uid: user.uid, gid: user.gid } : {}) })
  child.unref()
  let exited: string | undefined
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}; see ${logPath}`))
  const adminUrl = postgresUrl(options.port, 'postgres')
  await waitUntil('postgres', () => queryPostgres(adminUrl, (sql) => sql`select 1`), 30_000, () => exited)
  await queryPostgres(adminUrl, async (sql) => {
    const [row] = await sql`select 1 from pg_database where datname = ${DATABASE}`
    if (!row) await sql.unsafe(`create database ${DATABASE}`)
  })
  const pid = child.pid!
  // SIGINT is Postgres' "fast" shutdown: roll back open transactions, checkpoint, exit.
  return { pid, url: postgresUrl(options.port), stop: async () => void (await stopProcess(pid, 'SIGINT', 30_000)) }
}
