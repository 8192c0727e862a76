import { readFileSync } from 'node:fs'
import t from 'tap'
import { testRedis } from '@tributary/servers'
import { redisState } from './fixtures/build.ts'

// append.lua called directly, for what ingest never sends: a request whose meta does not
// parse, or does not hold as many events as the request says. The whole call is refused
// before it writes anything, so the requests that came with it are not half done.

const script = readFileSync(new URL('../src/event-log/append.lua', import.meta.url), 'utf8')
const header = ['ev', 'tributary:', '{0}', Date.now(), 0, 0, 1_800_000, 3600, 86_400]
const request = (meta: string, count: number) => ['tenant-a', 'key-a', Date.now(), count, '0123456789abcdef', meta, '{"i":"e1"}']
const good = JSON.stringify([['e1'], [Date.now()], ['/'], 'user-1', ''])

t.test('a call with an unreadable or miscounted meta is refused whole and writes nothing', async (t) => {
  const { redis } = await testRedis(t)
  const before = await redisState(redis)
  for (const [meta, count] of [['[["e2"', 1], [good, 2]] as const) {
    const err = await redis.eval(script, 1, 'tributary:events:{0}', ...header, 2, ...request(good, 1), ...request(meta, count)).catch((e: unknown) => e)
    t.match(err, { message: /request 2 has unreadable meta/ }, `meta ${meta.slice(0, 12)}…, count ${count}`)
  }
  t.same(await redisState(redis), before, 'no stream entry, seen id, session or counter')
  const reply = await redis.eval(script, 1, 'tributary:events:{0}', ...header, 1, ...request(good, 1))
  t.same(reply, ['ok', 'a'], 'the same good request alone goes through')
  t.equal(await redis.xlen('tributary:events:{0}'), 1)
})
