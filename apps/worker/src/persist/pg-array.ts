import { sql, type SQL } from 'drizzle-orm'

/**
 * A Postgres array literal ({"a",NULL,"b"}) as one text parameter. Drizzle's sql template
 * expands a JS array into a list of parameters, which is what UNNEST must not get: one
 * parameter per column keeps any batch far below the 65,534-parameter limit.
 */
export function textArray(values: ReadonlyArray<string | null>): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const v = values[i]
    out += v === null || v === undefined ? 'NULL' : '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'
  }
  return out + '}'
}

/** `$n::type[]` for a column of values. */
export function column(values: ReadonlyArray<string | null>, type: 'text' | 'uuid' | 'timestamptz' | 'jsonb'): SQL {
  return sql`${textArray(values)}::${sql.raw(type)}[]`
}
