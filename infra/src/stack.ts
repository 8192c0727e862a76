import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { loadConfig, Port } from '@tributary/shared'
import { STATE_DIR } from './paths.ts'
import { isAlive, isPortFree, pingRedis, postgresUrl, queryPostgres, startPostgres, startRedis, stopProcess, userCanEnter } from '@tributary/servers'

/**
 * The local stack: one redis-server and one Postgres for development, bound to loopback,
 * their data under `.tributary/`. They run in their own process groups and their pids are
 * recorded in `.tributary/stack.json`, so `pnpm stack:down` can stop a stack that a killed
 * `pnpm start` left behind, and a second `pnpm start` reuses a running one.
 */

const stackEnv = Type.Object({
  TRIBUTARY_REDIS_PORT: Port(16379, 'port of the local redis-server'),
  TRIBUTARY_POSTGRES_PORT: Port(15432, 'port of the local Postgres'),
})

interface ServerRecord {
  pid: number
  port: number
  url: string
}

interface StackState {
  redis?: ServerRecord
  postgres?: ServerRecord & { dataDir: string }
}

const STATE_FILE = join(STATE_DIR, 'stack.json')

function readState(): StackState {
  if (!existsSync(STATE_FILE)) return {}
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackState
  } catch {
    return {}
  }
}

function writeState(state: StackState) {
  mkdirSync(STATE_DIR, { recursive: true })
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2) + '\n')
}

/**
 * Where the Postgres cluster lives. Normally `.tributary/postgres`; when we run as root and
 * the `postgres` user cannot reach the checkout (say it sits under /root), a folder under
 * /var/lib/tributary named after the checkout instead.
 */
function postgresDataDir(): string {
  mkdirSync(STATE_DIR, { recursive: true })
  const wanted = join(STATE_DIR, 'postgres')
  if (process.getuid?.() !== 0) return wanted
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  if (id.status !== 0) return wanted
  const user = { uid: Number(id.stdout.trim()), gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()) }
  if (userCanEnter(STATE_DIR, user)) return wanted
  const tag = createHash('sha256').update(STATE_DIR).digest('hex').slice(0, 12)
  return join('/var/lib/tributary', tag, 'postgres')
}

/** Whether a Postgres answers at `url`. */
const probePostgres = (url: string) => queryPostgres(url, (sql) => sql`select 1`)

async function answers(record: ServerRecord | undefined, probe: (url: string) => Promise<unknown>): Promise<boolean> {
  if (!record || !isAlive(record.pid)) return false
  try {
    await probe(record.url)
    return true
  } catch {
    return false
  }
}

/** The local stack cannot start, for a reason its message gives in full: shown as one line. */
export class StackError extends Error {}

async function portOrFail(port: number, what: string, variable: string) {
  if (!(await isPortFree(port))) {
    throw new StackError(`port ${port} for the local ${what} is taken by another program; set ${variable} to a free port`)
  }
}

export interface StackUp {
  /** Unset when Redis was not asked for and none of the stack's runs. */
  redisUrl?: string
  /** Unset when Postgres was not asked for and none of the stack's runs. */
  databaseUrl?: string
  /** Servers this call started (a reused stack was already running). */
  started: Array<'redis' | 'postgres'>
}

/** Starts those of `which` that are not running already (both by default). */
export async function stackUp(log: (line: string) => void = console.error, which: Array<'redis' | 'postgres'> = ['redis', 'postgres']): Promise<StackUp> {
  const env = loadConfig(stackEnv, process.env)
  const state = readState()
  const started: StackUp['started'] = []

  if (which.includes('redis') && !(await answers(state.redis, pingRedis))) {
    await portOrFail(env.TRIBUTARY_REDIS_PORT, 'redis-server', 'TRIBUTARY_REDIS_PORT')
    const redis = await startRedis({ port: env.TRIBUTARY_REDIS_PORT, dir: join(STATE_DIR, 'redis') })
    state.redis = { pid: redis.pid, port: env.TRIBUTARY_REDIS_PORT, url: redis.url }
    writeState(state)
    started.push('redis')
    log(`redis-server started on 127.0.0.1:${env.TRIBUTARY_REDIS_PORT} (AOF appendfsync always, noeviction; data in .tributary/redis)`)
  }

  if (which.includes('postgres') && !(await answers(state.postgres, probePostgres))) {
    try {
      await portOrFail(env.TRIBUTARY_POSTGRES_PORT, 'Postgres', 'TRIBUTARY_POSTGRES_PORT')
      const dataDir = postgresDataDir()
      const postgres = await startPostgres({ port: env.TRIBUTARY_POSTGRES_PORT, dataDir })
      state.postgres = { pid: postgres.pid, port: env.TRIBUTARY_POSTGRES_PORT, url: postgres.url, dataDir }
      writeState(state)
      started.push('postgres')
      log(`postgres started on 127.0.0.1:${env.TRIBUTARY_POSTGRES_PORT} (data in ${dataDir})`)
    } catch (err) {
      // The caller never learns what this call started, so it could not stop it: a
      // redis-server started above would run on after `pnpm start` gave up.
      if (started.includes('redis')) await stackDown(['redis'], log)
      throw err
    }
  }

  return {
    ...(which.includes('redis') ? { redisUrl: state.redis!.url } : {}),
    ...(which.includes('postgres') ? { databaseUrl: state.postgres?.url ?? postgresUrl(env.TRIBUTARY_POSTGRES_PORT) } : {}),
    started,
  }
}

/**
 * Whether `pid` is still the server the state file recorded: after a reboot or a crash the
 * pid may belong to another program, which must not be signalled. Read from the process's
 * command line where /proc has it (redis-server shows `redis-server 127.0.0.1:<port>`, the
 * postmaster its data directory); elsewhere, whether the recorded server answers.
 */
async function stillOurs(record: ServerRecord, marks: string[], probe: (url: string) => Promise<unknown>): Promise<boolean> {
  if (!isAlive(record.pid)) return true
  let commandLine: string
  try {
    commandLine = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    // No /proc (macOS): ps has the command line too; without ps, whether the server answers.
    const ps = spawnSync('ps', ['-p', String(record.pid), '-o', 'command='], { encoding: 'utf8' })
    if (ps.status !== 0 && ps.error) return answers(record, probe)
    commandLine = ps.stdout
  }
  return marks.every((mark) => commandLine.includes(mark))
}

/** Stops the servers recorded in the state file (all of them, or just those named). */
export async function stackDown(which: Array<'redis' | 'postgres'> = ['redis', 'postgres'], log: (line: string) => void = console.error) {
  const state = readState()
  const notOurs = (what: string, pid: number) => `${what}: pid ${pid} is no longer the stack's ${what} (another program has it now); left alone, and forgotten`
  if (which.includes('redis') && state.redis) {
    if (await stillOurs(state.redis, ['redis-server', `:${state.redis.port}`], pingRedis)) log(`redis-server: ${await stopProcess(state.redis.pid, 'SIGTERM')}`)
    else log(notOurs('redis-server', state.redis.pid))
    delete state.redis
  }
  if (which.includes('postgres') && state.postgres) {
    if (await stillOurs(state.postgres, ['postgres', state.postgres.dataDir], probePostgres)) log(`postgres: ${await stopProcess(state.postgres.pid, 'SIGINT', 30_000)}`)
    else log(notOurs('postgres', state.postgres.pid))
    delete state.postgres
  }
  if (state.redis || state.postgres) writeState(state)
  else rmSync(STATE_FILE, { force: true })
}

export async function stackStatus() {
  const state = readState()
  return {
    redis: state.redis ? { ...state.redis, running: await answers(state.redis, pingRedis) } : undefined,
    postgres: state.postgres
      ? { ...state.postgres, running: await answers(state.postgres, probePostgres) }
      : undefined,
  }
}
