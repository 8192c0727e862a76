import t from 'tap'
import { roundsNote, roundsSummary } from '../src/rounds.ts'

t.test('steady rounds: each round\'s ratio, no warning', async (t) => {
  const rounds = [{ ceiling: 3_731, real: 2_387 }, { ceiling: 3_741, real: 1_933 }, { ceiling: 3_700, real: 2_165 }]
  const summary = roundsSummary(rounds)
  t.same(summary.ratios.map((r) => r.toFixed(2)), ['0.64', '0.52', '0.59'])
  t.equal(summary.drifted, false)
  t.equal(roundsNote(summary), 'rounds 0.64 / 0.52 / 0.59')
})

t.test('a ceiling that slowed within the run is flagged (2026-11-28 11:10 UTC)', async (t) => {
  const rounds = [{ ceiling: 3_166, real: 1_913 }, { ceiling: 2_367, real: 1_771 }, { ceiling: 2_094, real: 1_949 }]
  const summary = roundsSummary(rounds)
  t.equal(summary.drifted, true)
  t.equal(summary.ceilingSpread.toFixed(2), '0.51')
  t.match(roundsNote(summary), /^rounds 0\.60 \/ 0\.75 \/ 0\.93; the ceiling's rounds spread 51 %: the machine's speed changed/)
})

t.test('the limit itself is not drift; a ceiling round with no answers is', async (t) => {
  t.equal(roundsSummary([{ ceiling: 2_000, real: 1 }, { ceiling: 2_500, real: 1 }]).drifted, false, '25 % exactly')
  t.equal(roundsSummary([{ ceiling: 2_000, real: 1 }, { ceiling: 2_502, real: 1 }]).drifted, true, 'just over')
  t.match(roundsNote(roundsSummary([{ ceiling: 0, real: 0 }, { ceiling: 3_000, real: 2_000 }])), /rounds 0\.00 \/ 0\.67; the ceiling's rounds spread without bound/)
})
