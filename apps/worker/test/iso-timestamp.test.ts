import t from 'tap'
import { isoTimestamp } from '../src/persist/rows.ts'

t.test('isoTimestamp writes exactly what toISOString writes', async (t) => {
  const samples = [
    0, 1, 999, 1000, 1001, Date.UTC(2026, 10, 27, 7, 20, 32, 5), Date.UTC(2026, 10, 27, 7, 20, 32, 45), Date.UTC(2026, 10, 27, 7, 20, 32, 999),
    Date.UTC(2026, 10, 27, 7, 20, 33, 0), Date.UTC(2024, 1, 29, 23, 59, 59, 999), 253_402_300_799_999,
    // Outside the fast path: before 1970, past year 9999, not whole milliseconds.
    -1, -86_400_001, 253_402_300_800_000, 8.64e15, 1_700_000_000_000.5,
  ]
  // Also a long run where consecutive values share a second, and where they do not.
  for (let i = 0; i < 5_000; i++) samples.push(1_795_000_000_000 + i * 7, Math.floor(Math.random() * 253_402_300_799_999))
  const wrong = samples.filter((ms) => isoTimestamp(ms) !== new Date(ms).toISOString())
  t.same(wrong, [], `${samples.length} timestamps`)
})
