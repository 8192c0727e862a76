import { FormatRegistry } from '@sinclair/typebox'

/** RFC 3339 date-time (what ISO-8601 timestamps from SDKs look like), with a real calendar date. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/

/** Date.parse accepts 2026-02-30 (as March 2); a timestamp must name a real day. */
export function isDateTime(value: string): boolean {
  const match = DATE_TIME.exec(value)
  if (!match) return false
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  if (month < 1 || month > 12 || day < 1) return false
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return day <= daysInMonth && Number.isFinite(Date.parse(value))
}

/** TypeBox's compiler knows no formats until told; ajv (Fastify) has its own. */
export function registerFormats() {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isDateTime)
}
