import { readdirSync, readFileSync } from 'node:fs'

const TICKS = 100

/** The fields of /proc/<pid>/stat after the command name (state, ppid, …), or undefined once the process is gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** CPU seconds (user + system) a process (or `<pid>/task/<tid>`, one thread) has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number | string): number {
  const fields = statFields(pid)
  return fields ? cpuOf(fields) : Number.NaN
}

/** utime + stime of stat fields, in seconds. */
const cpuOf = (fields: string[]) => (Number(fields[11]) + Number(fields[12])) / TICKS

/**
 * Seconds a process (or `<pid>/task/<tid>`) has spent runnable but waiting for a core, from
 * /proc schedstat (Linux): a thread that is neither running nor waiting here is idle.
 */
export function runqueueWaitSeconds(pid: number | string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9
  } catch {
    return Number.NaN
  }
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024
}

/**
 * CPU seconds of a process and its live children: Postgres runs each connection in a child
 * of the postmaster, which /proc only adds to the parent once the child has exited.
 */
export function treeCpuSeconds(pid: number): number {
  let total = cpuSeconds(pid)
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    // One read per process: a child that ends while we look has no fields and is skipped.
    const fields = statFields(name)
    if (fields && Number(fields[1]) === pid) total += cpuOf(fields)
  }
  return total
}

/** Measures how much CPU each named process used while `work` ran, as a share of one core. */
export async function cpuShares<T>(pids: Record<string, number | string>, work: () => Promise<T>, trees: Record<string, number> = {}): Promise<{ result: T; shares: Record<string, number> }> {
  const measure = () => ({ ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)])), ...Object.fromEntries(Object.entries(trees).map(([name, pid]) => [name, treeCpuSeconds(pid)])) })
  const before = measure()
  const started = performance.now()
  const result = await work()
  const elapsed = (performance.now() - started) / 1000
  const after = measure()
  const shares = Object.fromEntries(Object.entries(after).map(([name, seconds]) => [name, (seconds - before[name]!) / elapsed]))
  return { result, shares }
}
