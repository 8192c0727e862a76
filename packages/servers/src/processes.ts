import { setTimeout as sleep } from 'node:timers/promises'

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to another user (postgres runs as `postgres`).
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Sends `signal`, waits up to `timeoutMs` for the process to go, then SIGKILLs it. */
export async function stopProcess(pid: number, signal: NodeJS.Signals, timeoutMs = 15_000): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isAlive(pid)) return 'not running'
  try {
    process.kill(pid, signal)
  } catch {
    return 'not running'
  }
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped'
    await sleep(50)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    /* already gone */
  }
  return 'killed'
}

/** Retries `probe` until it resolves or `timeoutMs` passes; `abort` stops early with its reason. */
export async function waitUntil(what: string, probe: () => Promise<unknown>, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    const reason = abort?.()
    if (reason) throw new Error(`${what} did not start: ${reason}`)
    try {
      await probe()
      return
    } catch (err) {
      lastError = err
      await sleep(100)
    }
  }
  throw new Error(`${what} did not answer within ${timeoutMs} ms: ${(lastError as Error)?.message ?? 'no answer'}`)
}

/** Waits until http://127.0.0.1:`port`/readyz answers 200 (an ingest or worker process). */
export async function waitUntilReady(what: string, port: number, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  await waitUntil(
    what,
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) })
      if (!res.ok) throw new Error(`/readyz answered ${res.status}`)
    },
    timeoutMs,
    abort,
  )
}

/** The p-th percentile of ascending `sorted` values (nearest rank); undefined when there are none. */
export function percentile(sorted: number[], p: number): number | undefined {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}
