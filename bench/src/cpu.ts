import { readFileSync } from 'node:fs'

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

/** Measures how much CPU each named process used while `work` ran, as a share of one core. */
export async function cpuShares<T>(pids: Record<string, number>, work: () => Promise<T>): Promise<{ result: T; shares: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]))
  const started = performance.now()
  const result = await work()
  const elapsed = (performance.now() - started) / 1000
  const shares = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, (cpuSeconds(pid) - before[name]!) / elapsed]))
  return { result, shares }
}
