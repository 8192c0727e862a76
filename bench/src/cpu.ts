import { readdirSync, readFileSync } from 'node:fs'

const TICKS = 100

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return Number.NaN
  }
}

/**
 * CPU seconds of a process and its live children: Postgres runs each connection in a child
 * of the postmaster, which /proc only adds to the parent once the child has exited.
 */
export function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid)
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) total += (Number(fields[11]) + Number(fields[12])) / TICKS
    } catch {
      // The process ended while we looked.
    }
  }
  return total
}

/** Measures how much CPU each named process used while `work` ran, as a share of one core. */
export async function cpuShares<T>(pids: Record<string, number>, work: () => Promise<T>, trees: Record<string, number> = {}): Promise<{ result: T; shares: Record<string, number> }> {
  const measure = () => ({ ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)])), ...Object.fromEntries(Object.entries(trees).map(([name, pid]) => [name, treeCpuSeconds(pid)])) })
  const before = measure()
  const started = performance.now()
  const result = await work()
  const elapsed = (performance.now() - started) / 1000
  const after = measure()
  const shares = Object.fromEntries(Object.entries(after).map(([name, seconds]) => [name, (seconds - before[name]!) / elapsed]))
  return { result, shares }
}
