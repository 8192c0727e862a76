import { Redis } from 'ioredis'

/** How often the command connection is checked, and how long a check may go unanswered. */
export const LINK_CHECK = { everyMs: 5_000, deadlineMs: 10_000 }

/**
 * The worker's two Redis connections: one for commands (XACK, XAUTOCLAIM, trimming, dead
 * letters) and one of its own for the blocking XREADGROUP (whose reads carry their own
 * deadline: streams.ts). Commands wait for a reconnection instead of failing
 * (`maxRetriesPerRequest: null`): the worker has nothing better to do with them.
 *
 * TCP keepalive from 10 s on, and a check of the command connection (watchLink in
 * @tributary/shared, with LINK_CHECK), because a
 * link that dies silently (a NAT or firewall dropping its state, a peer gone without a
 * FIN) otherwise leaves an XACK unanswered until the kernel gives up, ~15 minutes: the
 * worker sits idle meanwhile while peers take its entries over.
 */
export function createRedisClients(url: string) {
  const options = { maxRetriesPerRequest: null, lazyConnect: true, keepAlive: 10_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) }
  return { redis: new Redis(url, options), blocking: new Redis(url, options) }
}
