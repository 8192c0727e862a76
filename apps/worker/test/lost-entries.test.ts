import t from 'tap'
import { pino } from 'pino'
import { jsonLines } from '@tributary/servers'
import { createTenant } from '@tributary/db'
import { CONSUMER_GROUP, streamKey } from '@tributary/shared'
import { Worker } from '../src/worker.ts'
import { pageview, pipeline } from './fixtures/pipeline.ts'

t.test('entries deleted from the stream while pending are counted and logged as lost, by stream, and acknowledged; the others are written', async (t) => {
  const p = await pipeline(t)
  // Two requests for two tenants' worth of shards: entries on both streams.
  await p.produce([pageview('a1'), pageview('a2')])
  await p.produce([pageview('b1')], (await createTenant(p.database.db, 'other')).tenantId)
  const streams = [streamKey(0), streamKey(1)]
  for (const stream of streams) await p.redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => {})
  // Worker w1 read everything, then died before writing; meanwhile its entries were deleted.
  const read = (await p.redis.xreadgroup('GROUP', CONSUMER_GROUP, 'w1', 'COUNT', 100, 'STREAMS', ...streams, '>', '>')) as Array<[string, Array<[string, string[]]>]>
  const deleted: Record<string, string[]> = {}
  for (const [stream, entries] of read) {
    deleted[stream] = entries.map(([id]) => id)
    await p.redis.xdel(stream, ...deleted[stream]!)
  }
  t.ok(Object.keys(deleted).length >= 1)
  const total = Object.values(deleted).flat().length

  const { sink, lines } = jsonLines<{ level: number; msg: string; stream?: string; ids?: string[] }>()
  const log = pino({ level: 'info' }, sink)
  const worker = new Worker({ config: p.workerConfig({ WORKER_NAME: 'w1' }), redis: p.redis, blocking: p.redis.duplicate(), db: p.database.db, log })
  await worker.start()
  t.teardown(() => worker.stop())
  await p.waitFor(async () => worker.stats.lostEntries === total && (await p.pendingCount()) === 0, 'the lost entries counted and acknowledged')
  const lost = lines.filter((l) => l.msg.includes('no longer exist in the stream'))
  t.same(Object.fromEntries(lost.map((l) => [l.stream, l.ids])), deleted, 'one error line per stream, naming it and its ids')
  t.ok(lost.every((l) => l.level === 50), 'at error')
  t.equal(await p.rowCount(), 0, 'nothing written for them')

  // Later entries are written as usual.
  await p.produce([pageview('c1')])
  await p.waitFor(async () => (await p.rowCount()) === 1, 'the next event written')
})
