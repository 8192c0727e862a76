/**
 * One iterative walk over parsed JSON (a recursive one can be made to overflow the stack
 * by a small, deeply nested body) that finds what Postgres or our limits would refuse:
 * nesting deeper than allowed, and strings or keys holding U+0000 or a lone surrogate
 * (Postgres rejects both in text and jsonb, which would poison a whole worker batch).
 */
export type JsonProblem = { code: 'depth_exceeded' | 'invalid_unicode'; message: string }

const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed() && !s.includes('\u0000')

export function inspectJson(value: unknown, maxDepth: number): JsonProblem | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 0, path: '' }]
  while (stack.length > 0) {
    const { value: current, depth, path } = stack.pop()!
    if (typeof current === 'string') {
      if (!wellFormed(current)) return { code: 'invalid_unicode', message: `${path || 'a value'} holds a NUL character or a lone UTF-16 surrogate` }
      continue
    }
    if (current === null || typeof current !== 'object') continue
    if (depth >= maxDepth) return { code: 'depth_exceeded', message: `${path || 'the body'} is nested more than ${maxDepth} levels deep` }
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) stack.push({ value: current[i], depth: depth + 1, path: `${path}/${i}` })
    } else {
      for (const key of Object.keys(current)) {
        if (!wellFormed(key)) return { code: 'invalid_unicode', message: `a key under ${path || '/'} holds a NUL character or a lone UTF-16 surrogate` }
        stack.push({ value: (current as Record<string, unknown>)[key], depth: depth + 1, path: `${path}/${key}` })
      }
    }
  }
  return undefined
}
