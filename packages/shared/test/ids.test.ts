import t from 'tap'
import { uuidv7, uuidv7Time, UUID_PATTERN } from '../src/index.ts'

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

t.test('uuidv7Time reads the milliseconds of a UUIDv7 and is 0 for any other id', async (t) => {
  // Built by hand: uuidv7() never goes back in time within a process.
  const v7At = (ms: number) => {
    const hex = ms.toString(16).padStart(12, '0')
    return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-9def-0123456789ab`
  }
  for (const ms of [0, 1, Date.UTC(2026, 10, 27, 15, 0, 0), 2 ** 48 - 1]) {
    t.equal(uuidv7Time(v7At(ms)), ms, `made at ${ms}`)
    t.equal(uuidv7Time(v7At(ms).toUpperCase()), ms, 'in capitals too')
  }
  const before = Date.now()
  const made = uuidv7Time(uuidv7())
  t.ok(made >= before && made <= Date.now() + 1_000, 'an id uuidv7() makes now reads as about now (its counter can run a few ms ahead)')
  const v7 = v7At(Date.UTC(2026, 10, 27))
  const others = {
    'a UUIDv4': '0b6f5d2e-4c1a-4f7e-9d3b-2a8c6e4f1b0d',
    'version 7 with the wrong variant': v7.slice(0, 19) + 'c' + v7.slice(20),
    'another version digit': v7.slice(0, 14) + '4' + v7.slice(15),
    'a non-hex digit': 'g' + v7.slice(1),
    'no hyphens': v7.replace(/-/g, ''),
    'one character more': v7 + '0',
    'not a UUID': 'e-1',
    'empty': '',
  }
  for (const [what, id] of Object.entries(others)) t.equal(uuidv7Time(id), 0, what)
})
