/**
 * One iterative walk over parsed JSON (a recursive one can be made to overflow the stack
 * by a small, deeply nested body) that finds what Postgres or our limits would refuse:
 * nesting deeper than allowed, and strings or keys holding U+0000 or a lone surrogate
 * (Postgres rejects both in text and jsonb, which would poison a whole worker batch), and
 * numbers JSON.parse turned into Infinity (1e309), which JSON cannot carry on.
 */
export type JsonProblem = { code: 'depth_exceeded' | 'invalid_unicode' | 'invalid_number' | 'key_too_long'; message: string }

/** Longest object key anywhere in an event (JSON Schema cannot say this for free-form metadata). */
export const MAX_KEY_LENGTH = 128

const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed() && !s.includes('\u0000')

export function inspectJson(value: unknown, maxDepth: number): JsonProblem | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 0, path: '' }]
  while (stack.length > 0) {
    const { value: current, depth, path } = stack.pop()!
    if (typeof current === 'string') {
      if (!wellFormed(current)) return { code: 'invalid_unicode', message: `${path || 'a value'} holds a NUL character or a lone UTF-16 surrogate` }
      continue
    }
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return { code: 'invalid_number', message: `${path || 'a value'} is a number too large for JSON (e.g. 1e309)` }
      continue
    }
    if (current === null || typeof current !== 'object') continue
    if (depth >= maxDepth) return { code: 'depth_exceeded', message: `${path || 'the body'} is nested more than ${maxDepth} levels deep` }
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) stack.push({ value: current[i], depth: depth + 1, path: `${path}/${i}` })
    } else {
      for (const key of Object.keys(current)) {
        if (key.length > MAX_KEY_LENGTH) return { code: 'key_too_long', message: `a key under ${path || '/'} is ${key.length} characters; keys may have at most ${MAX_KEY_LENGTH}` }
        if (!wellFormed(key)) return { code: 'invalid_unicode', message: `a key under ${path || '/'} holds a NUL character or a lone UTF-16 surrogate` }
        stack.push({ value: (current as Record<string, unknown>)[key], depth: depth + 1, path: `${path}/${key}` })
      }
    }
  }
  return undefined
}
