/**
 * How far the ceiling's rounds may spread (fastest over slowest, less one) before a run's
 * ratio is flagged: on the dev machine the same build ran at 2,094–3,166 requests/s within
 * one run (2026-11-28 11:10 UTC), and a ceiling that slows in two rounds of three lifts the
 * ratio of the medians (0.81 that run, against 0.58–0.61 in the four before it).
 */
export const CEILING_SPREAD_LIMIT = 0.25

export interface RoundRates {
  ceiling: number
  real: number
}

export interface RoundsSummary {
  ratios: number[]
  ceilingSpread: number
  drifted: boolean
}

/** Each round's own ratio, and how far the ceiling's rounds spread: what the median hides. */
export function roundsSummary(rounds: RoundRates[]): RoundsSummary {
  const ratios = rounds.map((r) => (r.ceiling > 0 ? r.real / r.ceiling : 0))
  const ceilings = rounds.map((r) => r.ceiling)
  const slowest = Math.min(...ceilings)
  const ceilingSpread = slowest > 0 ? Math.max(...ceilings) / slowest - 1 : Infinity
  return { ratios, ceilingSpread, drifted: ceilingSpread > CEILING_SPREAD_LIMIT }
}

/** The note the table's row carries: the rounds' ratios, and a warning when the machine drifted. */
export function roundsNote({ ratios, ceilingSpread, drifted }: RoundsSummary): string {
  const each = `rounds ${ratios.map((r) => r.toFixed(2)).join(' / ')}`
  if (!drifted) return each
  return `${each}; the ceiling's rounds spread ${Number.isFinite(ceilingSpread) ? `${(ceilingSpread * 100).toFixed(0)} %` : 'without bound'}: the machine's speed changed during the run, rerun before reading the ratio`
}
