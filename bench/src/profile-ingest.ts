import { Redis } from 'ioredis'
import { createDatabase, createTenant, runMigrations } from '@tributary/db'
import { startTestServers } from '@tributary/servers'
import { cpuShares, runqueueWaitSeconds } from './cpu.ts'
import { batchBodies, load, markPastUpgradeWindow, startIngest } from './ingest.ts'

/**
 * Where the CPU goes for one mode of the 50-event batch benchmark: `tsx src/profile-ingest.ts
 * real|ceiling [requests/s]`. With a rate, both modes can be compared at the same load: the
 * difference in ingest CPU per request is what the Redis path costs ingest itself.
 * BENCH_CONNECTIONS (50) and BENCH_SECONDS (8) as in run.ts.
 */
const mode = (process.argv[2] ?? 'real') as 'real' | 'ceiling'
const servers = await startTestServers({ appendfsync: (process.env.BENCH_APPENDFSYNC as 'always' | 'everysec' | undefined) ?? 'always' })
try {
  await runMigrations(servers.databaseUrl)
  const { db, close } = createDatabase(servers.databaseUrl, { applicationName: 'bench', maxConnections: 1 })
  const tenant = await createTenant(db, `profile-${Date.now()}`)
  await close()
  const env = { DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl, RATE_LIMIT_EVENTS_PER_SECOND: '0', STREAM_BACKLOG_CAP: '0', ...(process.env.EXTRA_ENV ? JSON.parse(process.env.EXTRA_ENV) : {}) }
  const redis = new Redis(servers.redisUrl)
  await markPastUpgradeWindow(redis, env)
  redis.disconnect()
  const server = await startIngest(env, mode)
  const scenario = { name: 'batch', url: `http://127.0.0.1:${server.port}/api/v2/analytics/events`, headers: { authorization: `Bearer ${tenant.writeKey}`, 'content-type': 'application/json' }, eventsPerRequest: 50, body: batchBodies(`p${Date.now()}`) }
  // Each load numbers its requests from 0: the warm-up gets its own ids, or the timed run would resend them.
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
  await load({ ...scenario, body: batchBodies(`w${Date.now()}`) }, 3, connections, server.rss)
  const rate = process.argv[3] ? Number(process.argv[3]) : undefined
  const mainThread = `${server.child.pid}/task/${server.child.pid}`
  // Main threads only: a busy thread that waits for a core is short of CPU, an idle one of work.
  const threads: Record<string, string | number> = { 'ingest main thread': mainThread, redis: servers.redis.pid!, loadgen: process.pid }
  const waitedBefore = Object.fromEntries(Object.entries(threads).map(([name, pid]) => [name, runqueueWaitSeconds(pid)]))
  const timedFrom = performance.now()
  const { result, shares } = await cpuShares({ ingest: server.child.pid!, ...threads }, () => load(scenario, Number(process.env.BENCH_SECONDS ?? 8), connections, server.rss, rate))
  const timed = (performance.now() - timedFrom) / 1000
  const waited = Object.entries(threads).map(([name, pid]) => `${name} ${(((runqueueWaitSeconds(pid) - waitedBefore[name]!) / timed) * 100).toFixed(0)}%`)
  const perRequest = Object.entries(shares).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}% (${((v / result.requestsPerSecond) * 1e6).toFixed(0)} µs/request)`)
  console.log(mode, `${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, RSS ${result.peakRssMb.toFixed(0)} MB`, perRequest.join(', '), `; waiting for a core: ${waited.join(', ')}`)
  await server.stop()
} finally {
  await servers.stop()
}
