import { type Static, type TObject } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export interface ConfigIssue {
  variable: string
  message: string
  received: string | undefined
}

/** Thrown when the environment does not satisfy a config schema; lists every problem at once. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[]

  constructor(issues: ConfigIssue[]) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${i.variable}: ${i.message}${i.received === undefined ? '' : ` (got ${JSON.stringify(i.received)})`}`).join('\n'),
    )
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/**
 * Strict string conversion: TypeBox's Value.Convert would truncate "2.5" to the integer 2.
 * A value that does not convert cleanly stays a string, so validation reports it.
 */
function convert(property: { type?: unknown }, raw: string): unknown {
  if ((property.type === 'integer' || property.type === 'number') && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw)
  if (property.type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true'
  return raw
}

/**
 * Reads the variables a schema names from `source` (process.env by default): empty strings
 * count as unset, defaults are applied, strings are converted to the declared types, and
 * every violation is reported together so an operator fixes them in one go.
 */
export function loadConfig<S extends TObject>(schema: S, source: Record<string, string | undefined>): Static<S> {
  const picked: Record<string, unknown> = {}
  for (const [key, property] of Object.entries(schema.properties)) {
    const raw = source[key]
    if (raw !== undefined && raw.trim() !== '') picked[key] = convert(property as { type?: unknown }, raw.trim())
  }
  const converted = Value.Default(schema, picked)
  const issues: ConfigIssue[] = []
  const seen = new Set<string>()
  for (const error of Value.Errors(schema, converted)) {
    const variable = error.path.replace(/^\//, '').split('/')[0] || '(root)'
    if (seen.has(variable)) continue
    seen.add(variable)
    const expected = error.schema.description ? ` — ${error.schema.description}` : ''
    issues.push({ variable, message: `${error.message}${expected}`, received: source[variable] })
  }
  if (issues.length > 0) throw new ConfigError(issues)
  return converted as Static<S>
}
