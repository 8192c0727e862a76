import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { ValueErrorType } from '@sinclair/typebox/errors'
import { encodeEventJson, inspectJson, registerFormats, type Normalized, type NormalizedEvent } from '@tributary/shared'
import { ApiError } from '../errors.ts'

registerFormats()

/** Nesting allowed inside one event: the event, its metadata and 8 levels below. */
export const MAX_EVENT_DEPTH = 10
/** Largest event once encoded, like Segment's 32 KB per message. */
export const MAX_EVENT_CHARS = 32_768
/** Fields that would name a tenant; the tenant only ever comes from the key. */
const TENANT_FIELDS = ['tenantId', 'tenant_id', 'projectId', 'project_id']

export interface EventError {
  index: number
  code: string
  message: string
}

export interface PreparedEvent {
  index: number
  event: NormalizedEvent
  json: string
}

export interface PreparedBatch {
  events: PreparedEvent[]
  errors: EventError[]
  /** Repeats of an event id inside this one request. */
  duplicates: number
}

/**
 * Route-level validator for bodies whose events are checked one by one (prepareEvents): the
 * route only insists on a JSON object, so one bad event does not sink the batch.
 */
export const objectBody = (message: string) => () => (body: unknown) =>
  body !== null && typeof body === 'object' && !Array.isArray(body) ? { value: body } : { error: new ApiError(400, 'validation_failed', message) }

export function compile<S extends TSchema>(schema: S): TypeCheck<S> {
  return TypeCompiler.Compile(schema)
}

/** The first problem the compiled schema finds, as a code and a sentence. */
export function firstSchemaError(check: TypeCheck<TSchema>, value: unknown): { code: string; message: string } | undefined {
  // Check() is the compiled fast path; Errors() walks the value again and only runs on failure.
  if (check.Check(value)) return undefined
  const error = check.Errors(value).First()
  if (!error) return undefined
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    return { code: 'unknown_field', message: `unknown field "${error.path.split('/').pop()}"; see the API docs for the fields an event takes` }
  }
  const choices = (error.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf?.map((s) => s.const)
  if (choices?.length && choices.every((c) => typeof c === 'string')) {
    return { code: 'validation_failed', message: `${error.path}: must be one of ${choices.join(', ')}` }
  }
  return { code: 'validation_failed', message: `${error.path || 'the event'}: ${error.message}` }
}

export function refuseTenantClaims(value: Record<string, unknown>, tenantId: string) {
  for (const field of TENANT_FIELDS) {
    if (field in value && value[field] !== tenantId) {
      throw new ApiError(403, 'tenant_mismatch', `the body names another tenant in "${field}"; the tenant comes only from the API key`)
    }
  }
}

/**
 * Checks and normalises each event of a request on its own, so one bad event is reported
 * by its index while the others go through.
 */
export function prepareEvents(
  raw: unknown[],
  tenantId: string,
  check: TypeCheck<TSchema>,
  normalize: (value: never, index: number) => Normalized,
): PreparedBatch {
  const events: PreparedEvent[] = []
  const errors: EventError[] = []
  const seenIds = new Set<string>()
  let duplicates = 0
  for (let index = 0; index < raw.length; index++) {
    const value = raw[index]
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      errors.push({ index, code: 'validation_failed', message: 'an event must be a JSON object' })
      continue
    }
    refuseTenantClaims(value as Record<string, unknown>, tenantId)
    const problem = inspectJson(value, MAX_EVENT_DEPTH) ?? firstSchemaError(check, value)
    if (problem) {
      errors.push({ index, ...problem })
      continue
    }
    const normalized = normalize(value as never, index)
    if (!normalized.ok) {
      errors.push({ index, code: normalized.code, message: normalized.message })
      continue
    }
    const json = encodeEventJson(normalized.event)
    if (json.length > MAX_EVENT_CHARS) {
      errors.push({ index, code: 'event_too_large', message: `the event is ${json.length} characters once encoded; the limit is ${MAX_EVENT_CHARS}` })
      continue
    }
    if (seenIds.has(normalized.event.eventId)) {
      duplicates++
      continue
    }
    seenIds.add(normalized.event.eventId)
    events.push({ index, event: normalized.event, json })
  }
  return { events, errors, duplicates }
}
