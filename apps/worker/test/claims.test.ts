import t from 'tap'
import { testRedis } from '@tributary/servers'
import { CONSUMER_GROUP, streamKey } from '@tributary/shared'
import { renewOwnClaims } from '../src/streams.ts'

type Pending = Array<[string, string, number, number]>

t.test("renewing claims resets the idle time of this consumer's entries and leaves a peer's alone", async (t) => {
  const { redis } = await testRedis(t)
  const stream = streamKey(0)
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await redis.xadd(stream, '*', 'n', String(i)))!)
  await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  await redis.xreadgroup('GROUP', CONSUMER_GROUP, 'w1', 'COUNT', 3, 'STREAMS', stream, '>')
  // A peer's sweep took the third while w1 was retrying its write.
  await redis.xclaim(stream, CONSUMER_GROUP, 'w2', 0, ids[2]!, 'JUSTID')
  await new Promise((resolve) => setTimeout(resolve, 120))

  t.same(await renewOwnClaims(redis, stream, 'w1', ids), { renewed: [ids[0], ids[1]], peers: [ids[2]] }, "two of the three are still w1's, the third is a peer's")
  const pending = (await redis.xpending(stream, CONSUMER_GROUP, '-', '+', 10)) as Pending
  t.same(pending.map(([id, owner]) => [id, owner]), [[ids[0], 'w1'], [ids[1], 'w1'], [ids[2], 'w2']], 'the peer keeps its entry')
  t.ok(pending[0]![2] < 100 && pending[1]![2] < 100, `w1's entries are fresh again (idle ${pending[0]![2]} and ${pending[1]![2]} ms)`)
  t.ok(pending[2]![2] >= 100, `the peer's entry is not touched (idle ${pending[2]![2]} ms)`)
  t.same(pending.map(([, , , deliveries]) => deliveries), [1, 1, 1], 'no delivery counted (JUSTID)')
  t.same(await renewOwnClaims(redis, stream, 'w1', ['0-1']), { renewed: [], peers: [] }, 'an id no one holds is in neither list')
})
