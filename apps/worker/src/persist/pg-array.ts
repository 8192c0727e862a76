/**
 * A Postgres array literal ({"a",NULL,"b"}) as one text parameter, for `$n::type[]` and
 * UNNEST: one parameter per column keeps any batch far below the 65,534-parameter limit.
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
