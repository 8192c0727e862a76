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

export function allStreamKeys(shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => streamKey(shard))
}
