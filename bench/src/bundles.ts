import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundle, NODE_FLAGS } from '@tributary/infra'

/**
 * The apps as production runs them (infra/docker): one esbuild bundle each, plain `node`,
 * no TypeScript loader, whose own thread and compiler would add to the measured memory.
 */
const bundles = new Map<string, Promise<string>>()

function bundleOnce(app: 'ingest' | 'worker', entry: string, output: string): Promise<string> {
  let ready = bundles.get(entry)
  if (!ready) {
    // Inside the app's folder so that the npm packages left external resolve from its node_modules.
    const outdir = fileURLToPath(new URL(`../../apps/${app}/.bench-build/`, import.meta.url))
    ready = bundle([fileURLToPath(new URL(entry, import.meta.url))], outdir, fileURLToPath(new URL(`../../apps/${app}/src/`, import.meta.url))).then(() => join(outdir, output))
    bundles.set(entry, ready)
  }
  return ready
}

/** bench/src/ingest-server.ts: the ingest app, or its ceiling. */
export const ingestBundle = () => bundleOnce('ingest', './ingest-server.ts', 'ingest-server.js')

/** apps/worker/src/main.ts, as deployed. */
export const workerBundle = () => bundleOnce('worker', '../../apps/worker/src/main.ts', 'main.js')

/**
 * Node flags for a benchmarked app: the ones production runs it with; BENCH_CPU_PROFILE=<dir>
 * also writes a V8 CPU profile of each process there (open in Chrome DevTools).
 */
export const appExecArgv = (app: keyof typeof NODE_FLAGS) => ['--enable-source-maps', ...NODE_FLAGS[app], ...(process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [])]
