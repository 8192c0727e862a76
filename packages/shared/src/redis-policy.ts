import type { Redis } from 'ioredis'

export interface EvictionCheck {
  /** Redis's maxmemory-policy, when it could be read. */
  policy?: string
  /** Set when Redis may evict keys: what that costs and what to do. */
  problem?: string
  /**
   * Set when the policy could not be read (CONFIG refused, as managed Redis and ACLs may), or
   * when it evicts but no maxmemory is set, so that nothing is evicted yet.
   */
  warning?: string
}

/**
 * Whether Redis may evict keys under memory pressure. Tributary needs `noeviction`: an
 * evicted stream entry loses events that were acknowledged, and an evicted set of seen ids
 * lets a resent event be counted twice. With `noeviction` a full Redis refuses writes
 * instead, and ingest answers 503 (infra/README.md).
 */
export async function checkEviction(redis: Redis): Promise<EvictionCheck> {
  let reply: unknown
  try {
    reply = await redis.config('GET', 'maxmemory-policy')
  } catch (err) {
    return { warning: `could not read Redis's maxmemory-policy (${err instanceof Error ? err.message : String(err)}); make sure it is noeviction (infra/README.md)` }
  }
  const policy = Array.isArray(reply) ? reply[1] : undefined
  if (typeof policy !== 'string') return { warning: 'Redis did not report a maxmemory-policy; make sure it is noeviction (infra/README.md)' }
  if (policy === 'noeviction') return { policy }
  // Without a limit Redis never evicts; it grows until the machine runs out instead.
  const limit = await redis.config('GET', 'maxmemory').then((r) => Number((r as string[])[1]), () => NaN)
  if (limit === 0) {
    return { policy, warning: `Redis would evict keys once a maxmemory is set (maxmemory-policy ${policy}, no maxmemory now): set maxmemory-policy noeviction before setting one (infra/README.md)` }
  }
  return {
    policy,
    problem: `Redis evicts keys under memory pressure (maxmemory-policy ${policy}): an evicted stream entry loses acknowledged events and an evicted set of seen ids counts resent events twice. Set maxmemory-policy noeviction (infra/README.md)`,
  }
}
