import { Redis } from 'ioredis'
import type { Logger } from '@tributary/shared'

/** How often the command connection is checked, and how long a check may go unanswered. */
export const LINK_CHECK = { everyMs: 5_000, deadlineMs: 10_000 }

/**
 * The worker's two Redis connections: one for commands (XACK, XAUTOCLAIM, trimming, dead
 * letters) and one of its own for the blocking XREADGROUP (whose reads carry their own
 * deadline: streams.ts). Commands wait for a reconnection instead of failing
 * (`maxRetriesPerRequest: null`): the worker has nothing better to do with them.
 *
 * TCP keepalive from 10 s on, and a check of the command connection (watchLink), because a
 * link that dies silently (a NAT or firewall dropping its state, a peer gone without a
 * FIN) otherwise leaves an XACK unanswered until the kernel gives up, ~15 minutes: the
 * worker sits idle meanwhile while peers take its entries over.
 */
export function createRedisClients(url: string) {
  const options = { maxRetriesPerRequest: null, lazyConnect: true, keepAlive: 10_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) }
  return { redis: new Redis(url, options), blocking: new Redis(url, options) }
}

/**
 * PINGs the connection every `everyMs`; one unanswered for `deadlineMs` means the link is
 * dead but not closed, so the connection is dropped and made again. The commands waiting on
 * it are sent again on the new one (ioredis resends what was unanswered), so an XACK that
 * hung goes through instead of waiting for the kernel. Returns a function that stops it.
 */
export function watchLink(redis: Redis, log: Logger, { everyMs, deadlineMs } = LINK_CHECK): () => void {
  let checking = false
  const timer = setInterval(() => {
    if (checking || redis.status !== 'ready') return
    checking = true
    let deadline: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => (deadline = setTimeout(() => resolve('expired'), deadlineMs)))
    void Promise.race([redis.ping().catch(() => 'failed'), expired])
      .then((outcome) => {
        if (outcome !== 'expired') return
        log.warn({ deadlineMs }, 'Redis did not answer a PING in time (the link is dead but not closed); reconnecting')
        redis.disconnect(true)
      })
      .finally(() => {
        clearTimeout(deadline)
        checking = false
      })
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
