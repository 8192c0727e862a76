import { Redis } from 'ioredis'
import { reconnectOnReadOnly } from '@tributary/shared'

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
  // A dead socket is ended gracefully, then destroyed after disconnectTimeout: short, so a remade connection is not held up.
  const options = { maxRetriesPerRequest: null, lazyConnect: true, keepAlive: 10_000, disconnectTimeout: 200, retryStrategy: (n: number) => Math.min(n * 200, 2_000) }
  return {
    // After a failover that left the connection on the old primary (READONLY to every XACK,
    // XAUTOCLAIM, trim): remade, and the command sent again (an XACK twice is one).
    redis: new Redis(url, { ...options, reconnectOnError: reconnectOnReadOnly(2) }),
    // A read cut off by its deadline (streams.ts) has been given up on: sent again, it would
    // deliver entries to no one, and they would wait pending for a claim sweep. The same holds
    // for a read made while the connection is down: kept in the offline queue, it would be
    // sent on reconnection after its deadline had passed. So no queue: a read while down
    // fails at once, and the loop tries again a second later.
    // READONLY: remade, the read not sent again (the loop reads anew).
    blocking: new Redis(url, { ...options, autoResendUnfulfilledCommands: false, enableOfflineQueue: false, reconnectOnError: reconnectOnReadOnly(1) }),
  }
}
