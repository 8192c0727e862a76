import type { Redis } from 'ioredis'

/**
 * PINGs the connection every `everyMs`; one unanswered for `deadlineMs` means the link is
 * dead but not closed (a NAT or firewall dropped its state, a peer vanished without a FIN),
 * so the connection is dropped and made again instead of waiting for the kernel to notice,
 * ~15 minutes. ioredis sends the commands that were unanswered again on the new connection.
 * Returns a function that stops it.
 */
export function watchLink(redis: Redis, log: { warn(details: object, message: string): void }, { everyMs, deadlineMs }: { everyMs: number; deadlineMs: number }): () => void {
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
