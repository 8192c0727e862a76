// First: .env must be in process.env before the modules below read it as they load.
import './dotenv.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { Type } from '@sinclair/typebox'
import { describeDatabaseFailure, runMigrations } from '@tributary/db'
import { loadConfig, Port, PostgresUrl, RedisUrl } from '@tributary/shared'
import { MissingBinaryError } from '@tributary/servers'
import { DEMO_TENANT, ensureDemoTenant, type DemoKeys } from './demo-tenant.ts'
import { REPO_ROOT } from './paths.ts'
import { StackError, stackDown, stackUp } from './stack.ts'
import { NODE_FLAGS } from './node-flags.ts'

/**
 * `pnpm start`: everything in the foreground.
 *   1. Without DATABASE_URL / REDIS_URL, start the local Postgres / redis-server.
 *   2. Apply migrations; create the demo tenant on first run and print its keys.
 *   3. Run the ingest API and one worker, each in its own process group, so that Ctrl-C
 *      reaches them once, from here, as SIGTERM: the worker can finish its batch while
 *      Redis and Postgres are still up.
 *   4. When both apps have exited, stop the servers step 1 started, and exit.
 */

const startEnv = Type.Object({
  DATABASE_URL: Type.Optional(PostgresUrl('a postgres:// URL; leave unset to start the local Postgres')),
  REDIS_URL: Type.Optional(RedisUrl('a redis:// URL; leave unset to start the local redis-server')),
  PORT: Port(3000, 'port of the ingest API'),
  WORKER_PORT: Port(3001, 'port of the worker health server'),
  HOST: Type.String({ default: '127.0.0.1' }),
})

const say = (line: string) => console.error(`\x1b[36m[tributary]\x1b[0m ${line}`)

function printKeys(keys: DemoKeys, port: number, host: string) {
  const base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  console.error(`
  demo tenant  ${keys.tenantId}
  write key    ${keys.writeKey}   (ingest only; safe to ship in a browser)
  read key     ${keys.readKey}   (dashboards; keep it secret)

  Send an event:
    curl -sS -X POST ${base}/api/v2/analytics/events \\
      -H 'Authorization: Bearer ${keys.writeKey}' -H 'Content-Type: application/json' \\
      -d '{"type":"pageview","anonymousId":"visitor-1","page":"/pricing"}'

  Read today's figures:
    curl -sS ${base}/api/v2/analytics/realtime -H 'Authorization: Bearer ${keys.readKey}'
`)
}

async function main(): Promise<number> {
  const env = loadConfig(startEnv, process.env)
  let started: Array<'redis' | 'postgres'> = []
  let databaseUrl = env.DATABASE_URL
  let redisUrl = env.REDIS_URL
  if (!databaseUrl || !redisUrl) {
    // Only the servers whose URL is unset: one given is used as it is.
    const wanted = [...(redisUrl ? [] : ['redis' as const]), ...(databaseUrl ? [] : ['postgres' as const])]
    say(`starting the local ${wanted.join(' and ')} (data in .tributary/)…`)
    const up = await stackUp(say, wanted)
    started = up.started
    databaseUrl ??= up.databaseUrl!
    redisUrl ??= up.redisUrl!
  }
  const stopStarted = async () => {
    if (started.length > 0) {
      say(`stopping ${started.join(' and ')}…`)
      await stackDown(started, say)
    }
  }

  try {
    await runMigrations(databaseUrl)
    say('migrations applied')
    const demo = await ensureDemoTenant(databaseUrl, !env.DATABASE_URL)
    if (demo.keys) printKeys(demo.keys, env.PORT, env.HOST)
    else say(`tenant "${DEMO_TENANT}" exists; its keys were shown when it was made (new ones: pnpm tributary keys rotate ${DEMO_TENANT})`)
  } catch (err) {
    await stopStarted()
    throw err
  }

  const childEnv = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }
  const apps = new Map<string, ChildProcess>()
  for (const [name, entry] of [['ingest', 'apps/ingest/src/server.ts'], ['worker', 'apps/worker/src/main.ts']] as const) {
    const child = spawn(process.execPath, [...NODE_FLAGS[name], '--import', 'tsx', entry], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
    apps.set(name, child)
  }
  say(`ingest on http://${env.HOST}:${env.PORT}, worker health on http://${env.HOST}:${env.WORKER_PORT} — Ctrl-C stops everything`)

  let stopping = false
  let exitCode = 0
  let signals = 0
  const stopApps = () => {
    if (stopping) return
    stopping = true
    say('stopping the ingest API and the worker… (Ctrl-C again to stop them at once)')
    for (const child of apps.values()) if (child.exitCode === null) child.kill('SIGTERM')
  }
  const onSignal = () => {
    if (++signals === 1 || !stopping) return stopApps()
    // Both apps exit at once on a second signal; the worker's unwritten entries stay
    // pending in Redis for the next start. The servers are still stopped cleanly after.
    say('stopping the apps at once (the worker leaves its batch pending for the next start)…')
    for (const child of apps.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)

  await Promise.all(
    [...apps].map(
      ([name, child]) =>
        new Promise<void>((resolve) => {
          child.once('exit', (code, signal) => {
            if (!stopping) {
              say(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the rest`)
              exitCode = 1
              stopApps()
            }
            resolve()
          })
        }),
    ),
  )
  await stopStarted()
  say('stopped')
  return exitCode
}

try {
  process.exitCode = await main()
} catch (err) {
  const databaseFailure = describeDatabaseFailure(err)
  console.error(err instanceof MissingBinaryError || err instanceof StackError || (err as Error).name === 'ConfigError' ? (err as Error).message : databaseFailure ? `pnpm start: ${databaseFailure}` : err)
  process.exitCode = 1
}
