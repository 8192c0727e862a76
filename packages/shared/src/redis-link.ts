import type { Redis } from 'ioredis'

/**
 * PINGs the connection every `everyMs`; one unanswered for `deadlineMs` means the link is
 * dead but not closed (a NAT or firewall dropped its state, a peer vanished without a FIN),
 * so the connection is dropped and made again instead of waiting for the kernel to notice,
 * ~15 minutes. Whether the commands left unanswered are sent again on the new connection is
 * the client's `autoResendUnfulfilledCommands` (the worker: yes; ingest: no, its command
 * timeout fails them). The client should have a short `disconnectTimeout`: a dead socket is
 * ended gracefully first, and destroyed only after it. Returns a function that stops it.
 */
export function watchLink(redis: Redis, log: { warn(details: object, message: string): void }, { everyMs, deadlineMs }: { everyMs: number; deadlineMs: number }): () => void {
  let checking = false
  let stopped = false
  const timer = setInterval(() => {
    if (stopped || checking || redis.status !== 'ready') return
    checking = true
    let deadline: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => (deadline = setTimeout(() => resolve('expired'), deadlineMs)))
    // A client's own command timeout answers the PING as an error: as good as no answer.
    const ping = redis.ping().catch((err: unknown) => (/timed out/i.test(String((err as Error)?.message)) ? 'expired' : 'failed'))
    void Promise.race([ping, expired])
      .then((outcome) => {
        if (outcome !== 'expired' || stopped) return
        log.warn({ deadlineMs }, 'Redis did not answer a PING in time (the link is dead but not closed); reconnecting')
        redis.disconnect(true)
      })
      .finally(() => {
        clearTimeout(deadline)
        checking = false
      })
  }, everyMs)
  timer.unref()
  return () => {
    stopped = true
    clearInterval(timer)
  }
}

/**
 * An ioredis `reconnectOnError` for a failover that leaves the connection open: the old
 * primary, now a replica, answers every write with READONLY for as long as the connection
 * lasts (Sentinel closes clients' connections when it demotes a server; a manual promotion,
 * a REPLICAOF or a DNS switch does not), and a PING still succeeds there, so watchLink never
 * notices. Reconnecting reaches whatever the URL names now. `resend`: 2 sends the failed
 * command again on the new connection (for commands that wait out a reconnection anyway),
 * 1 lets it fail (its caller has answered or retries by itself).
 */
export function reconnectOnReadOnly(resend: 1 | 2): (err: Error) => 1 | 2 | false {
  return (err) => (err.message.startsWith('READONLY') ? resend : false)
}
