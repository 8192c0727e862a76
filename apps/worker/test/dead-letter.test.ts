import t from 'tap'
import { testRedis } from '@tributary/servers'
import { CONSUMER_GROUP, deadLetterKey, fieldsToObject, streamKey } from '@tributary/shared'
import { deadLetter } from '../src/dead-letter.ts'

const FIELDS = ['v', '2', 'k', 'ev', 't', 'tenant', 'r', '0', 'z', 'x', 's', 's', 'u', 'u']

/** An entry on shard 2's stream, read by a consumer of the group: pending until acknowledged. */
async function pendingEntry(redis: Awaited<ReturnType<typeof testRedis>>['redis']) {
  const stream = streamKey(2)
  const id = (await redis.xadd(stream, '*', ...FIELDS))!
  await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  await redis.xreadgroup('GROUP', CONSUMER_GROUP, 'w1', 'COUNT', 10, 'STREAMS', stream, '>')
  const pending = async () => ((await redis.xpending(stream, CONSUMER_GROUP)) as [number])[0]
  return { stream, id, pending }
}

t.test('a dead letter is written and its entry acknowledged together', async (t) => {
  const { redis } = await testRedis(t)
  const { stream, id, pending } = await pendingEntry(redis)
  t.equal(await pending(), 1)
  await deadLetter(redis, stream, id, FIELDS, '22P05', 'unsupported Unicode escape sequence')
  t.equal(await pending(), 0, 'acknowledged')
  const [[, letter]] = (await redis.xrange(deadLetterKey(2), '-', '+')) as [[string, string[]]]
  const byName = fieldsToObject(letter) as Record<string, string>
  t.match(byName, { stream, id, code: '22P05', error: 'unsupported Unicode escape sequence', fields: JSON.stringify(FIELDS) })
  t.ok(!Number.isNaN(Date.parse(byName.failedAt!)), 'with the time it failed')
})

t.test('when the dead letter cannot be written, the entry is not acknowledged', async (t) => {
  const { redis } = await testRedis(t)
  const { stream, id, pending } = await pendingEntry(redis)
  await redis.set(deadLetterKey(2), 'not a stream')
  await t.rejects(deadLetter(redis, stream, id, FIELDS, '22P05', 'x'), /WRONGTYPE/)
  t.equal(await pending(), 1, 'still pending, so it is retried rather than lost')
  t.equal(await redis.get(deadLetterKey(2)), 'not a stream')
})

t.test('dead-lettering an entry twice (a call sent again after its answer was lost) writes one dead letter', async (t) => {
  const { redis } = await testRedis(t)
  const { stream, id, pending } = await pendingEntry(redis)
  await deadLetter(redis, stream, id, FIELDS, '22P05', 'x')
  await deadLetter(redis, stream, id, FIELDS, '22P05', 'x')
  t.equal(await pending(), 0)
  t.equal(await redis.xlen(deadLetterKey(2)), 1, 'one dead letter')
})
