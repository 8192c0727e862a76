import { FormatRegistry } from '@sinclair/typebox'

/** RFC 3339 date-time (what ISO-8601 timestamps from SDKs look like), with a real calendar date. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/

export function isDateTime(value: string): boolean {
  return DATE_TIME.test(value) && Number.isFinite(Date.parse(value))
}

/** TypeBox's compiler knows no formats until told; ajv (Fastify) has its own. */
export function registerFormats() {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isDateTime)
}
