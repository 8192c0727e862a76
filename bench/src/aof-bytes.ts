import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, startRedis } from '@tributary/servers'
import { createEventLog } from '@tributary/ingest/event-log'
import type { EventInput } from '@tributary/shared'
import { appendable, batchBody } from './ingest.ts'

/**
 * What one 50-event request of the ingest benchmark leaves in Redis: `tsx src/aof-bytes.ts
 * [requests]` (default 2,000) appends the bench's batches through the real append script
 * and reports the AOF bytes per request, by command and by stream-entry field, and the
 * streams' memory per request. For sizing `maxmemory`, the disk and the AOF rewrite
 * settings (infra/README.md). The AOF is the shipped one; fsync is everysec here because
 * only bytes are counted.
 */
const REQUESTS = Number(process.argv[2] ?? 2_000)
const TENANT = '00000000-0000-7000-8000-000000000001'
const SHARDS = 4
const dir = mkdtempSync(join(tmpdir(), 'tributary-aof-bytes-'))
const server = await startRedis({ port: await freePort(), dir, appendfsync: 'everysec', noSnapshots: true })
const redis = new Redis(server.url)
try {
  const log = createEventLog(redis, { shards: SHARDS, sessionTimeoutMs: 1_800_000, dedupWindowSeconds: 3600, sessionStateTtlSeconds: 86_400, rateLimitPerSecond: 0, backlogCap: 0 })
  const now = Date.now()
  const request = (n: number) => (JSON.parse(batchBody('aof', n)) as { events: EventInput[] }).events.map((input) => appendable(input, now))
  const inflight: Array<Promise<unknown>> = []
  for (let n = 0; n < REQUESTS; n++) {
    inflight.push(log.appendEvents(TENANT, 'key', request(n), Date.now()))
    if (inflight.length >= 20) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  // everysec: wait for the last write to reach the file.
  await new Promise((resolve) => setTimeout(resolve, 1_500))

  const aofDir = join(dir, 'appendonlydir')
  const aof = readFileSync(join(aofDir, readdirSync(aofDir).find((f) => f.endsWith('.incr.aof'))!))
  const byCommand = new Map<string, number>()
  const byField = new Map<string, number>()
  const lineEnd = (from: number) => aof.indexOf('\r\n', from)
  for (let pos = 0; pos < aof.length; ) {
    const start = pos
    const args: Buffer[] = []
    let eol = lineEnd(pos)
    const count = Number(aof.subarray(pos + 1, eol))
    pos = eol + 2
    for (let i = 0; i < count; i++) {
      eol = lineEnd(pos)
      const length = Number(aof.subarray(pos + 1, eol))
      args.push(aof.subarray(eol + 2, eol + 2 + length))
      pos = eol + 2 + length + 2
    }
    const command = args[0]!.toString().toUpperCase()
    byCommand.set(command, (byCommand.get(command) ?? 0) + pos - start)
    if (command === 'XADD') for (let i = 3; i + 1 < args.length; i += 2) byField.set(args[i]!.toString(), (byField.get(args[i]!.toString()) ?? 0) + args[i + 1]!.length)
  }
  let streamBytes = 0
  for (let shard = 0; shard < SHARDS; shard++) streamBytes += Number((await redis.memory('USAGE', `tributary:events:{${shard}}`, 'SAMPLES', '0')) ?? 0)
  const perRequest = (bytes: number) => `${(bytes / REQUESTS).toFixed(0)} B`
  console.log(`${REQUESTS} requests of 50 events: AOF ${perRequest(aof.length)} per request, streams ${perRequest(streamBytes)} of memory per request`)
  console.log('AOF per request, by command:', [...byCommand].sort((a, b) => b[1] - a[1]).map(([c, b]) => `${c} ${perRequest(b)}`).join(', '))
  console.log('stream entry fields per request:', [...byField].map(([f, b]) => `${f} ${perRequest(b)}`).join(', '))
} finally {
  redis.disconnect()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
