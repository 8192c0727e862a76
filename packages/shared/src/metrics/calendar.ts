/** Calendar days (YYYY-MM-DD) in a tenant's timezone; all arithmetic on plain dates in UTC. */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value)
  if (!m) return false
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  return d.toISOString().slice(0, 10) === value
}

const DAY_MS = 86_400_000

/** The calendar date of an epoch ms, as YYYY-MM-DD (a year past 9999 takes more digits, which Postgres reads). */
function formatDate(ms: number): string {
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  // toISOString writes years past 9999 as "+010000", which slicing would cut to a non-date.
  return `${String(year).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}`
}

const parseDate = (date: string): number => Date.parse(`${date}T00:00:00Z`)

export function addDays(date: string, days: number): string {
  return formatDate(parseDate(date) + days * DAY_MS)
}

export function daysBetween(from: string, to: string): number {
  return Math.round((parseDate(to) - parseDate(from)) / DAY_MS)
}

/** Every date from `from` to `to`, both included, ascending. Counted, not compared as text: dates past 9999 sort wrong as text. */
export function eachDay(from: string, to: string): string[] {
  const start = parseDate(from)
  const count = daysBetween(from, to) + 1
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(formatDate(start + i * DAY_MS))
  return out
}

/** The calendar date of an instant in a timezone. */
export function dateIn(timezone: string, at: number): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at)
}

/** The last `days` calendar days in the timezone, today included. */
export function lastDays(timezone: string, days: number, now = Date.now()) {
  const to = dateIn(timezone, now)
  return { from: addDays(to, -(days - 1)), to }
}
