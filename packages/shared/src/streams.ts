/**
 * Redis key names. Every key of one shard carries the shard's hash tag `{N}` so a Redis
 * Cluster keeps a shard's stream, dead-letter stream and counters on one node.
 */
export const CONSUMER_GROUP = 'tributary-writers'

export function streamKey(shard: number): string {
  return `tributary:events:{${shard}}`
}

export function deadLetterKey(shard: number): string {
  return `tributary:dlq:{${shard}}`
}

/**
 * Real-time counter keys of one tenant (written by apps/ingest/src/event-log/append.lua,
 * which builds the same names): who was active, sessions in progress, events per minute,
 * page views per minute. Each expires on its own, so memory stays bounded.
 */
export function realtimeKeys(tenantId: string, shard: number) {
  const base = `tributary:rt:{${shard}}:${tenantId}:`
  return {
    users: `${base}users`,
    sessions: `${base}sessions`,
    eventsInMinute: (minute: number) => `${base}epm:${minute}`,
    pagesInMinute: (minute: number) => `${base}pages:${minute}`,
  }
}

export function allStreamKeys(shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => streamKey(shard))
}

/** Pub/sub channel on which a key revocation is announced, so every ingest process forgets its cached keys at once. */
export const KEY_REVOCATIONS_CHANNEL = 'tributary:keys:revoked'
