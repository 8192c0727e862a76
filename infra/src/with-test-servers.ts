import { spawn } from 'node:child_process'
import { REPO_ROOT } from './paths.ts'
import { MissingBinaryError, startTestServers, type TestServers } from '@tributary/servers'

/**
 * `pnpm test`: runs the given command (tap) with TEST_DATABASE_URL and TEST_REDIS_URL set.
 * When both are already set, those servers are used; otherwise a throwaway redis-server and
 * Postgres are started for the run and removed after it. Ends with the line
 * `N passed, N failed` (tap's own counts), so CI can tell a run with no tests.
 */
const [command, ...args] = process.argv.slice(2)
if (!command) {
  console.error('usage: with-test-servers.ts <command> [args…]')
  process.exit(2)
}

let servers: TestServers | undefined
const env = { ...process.env }
if (!env.TEST_DATABASE_URL || !env.TEST_REDIS_URL) {
  try {
    servers = await startTestServers()
  } catch (err) {
    console.error(err instanceof MissingBinaryError ? err.message : err)
    process.exit(1)
  }
  env.TEST_DATABASE_URL ??= servers.databaseUrl
  env.TEST_REDIS_URL ??= servers.redisUrl
  console.error(`test servers: ${servers.redisUrl} ${servers.databaseUrl}`)
}

const counts = { pass: 0, fail: 0, seen: false }
const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
let tail = ''
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4096)
})
const forward = (signal: NodeJS.Signals) => child.kill(signal)
process.on('SIGINT', forward)
process.on('SIGTERM', forward)

const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await servers?.stop()

// tap's summary: "# { total: 12, pass: 11, fail: 1 }" (keys absent when zero); other
// runners (pnpm test:chaos) end with a plain "N passed, N failed" line.
const clean = tail.replace(/\x1b\[[0-9;]*m/g, '')
const summary = /#\s*\{([^}]*)\}\s*$/m.exec(clean)
const plain = /^(\d+) passed, (\d+) failed\s*$/m.exec(clean)
if (summary?.[1]) {
  counts.seen = true
  counts.pass = Number(/pass:\s*(\d+)/.exec(summary[1])?.[1] ?? 0)
  counts.fail = Number(/fail:\s*(\d+)/.exec(summary[1])?.[1] ?? 0)
} else if (plain) {
  counts.seen = true
  counts.pass = Number(plain[1])
  counts.fail = Number(plain[2])
}
if (!plain || summary) console.log(counts.seen ? `${counts.pass} passed, ${counts.fail} failed` : `0 passed, ${code === 0 ? 0 : 1} failed`)
process.exit(code !== 0 ? code : counts.seen && counts.pass > 0 ? 0 : 1)
