import t from 'tap'
import { uuidv7, UUID_PATTERN } from '../src/index.ts'

t.test('uuidv7 has the version and variant bits and the time in front', async (t) => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0)
  const id = uuidv7(now)
  t.match(id, UUID_PATTERN)
  t.equal(id[14], '7', 'version 7')
  t.match(id[19]!, /[89ab]/, 'RFC 9562 variant')
  t.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), now, 'first 48 bits are the milliseconds')
})

t.test('ids made in one process sort in creation order, even within a millisecond', async (t) => {
  const ids = Array.from({ length: 5_000 }, () => uuidv7())
  t.same([...ids].sort(), ids)
  t.equal(new Set(ids).size, ids.length, 'no repeats')
})
