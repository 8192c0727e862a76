import { resolve } from 'node:path'
import { bundle } from './bundle.ts'

/**
 * `pnpm build` in an app: bundles the given entries into dist/ (see bundle.ts), so the
 * production image runs plain `node dist/<entry>.js` with no TypeScript loader.
 */
const entries = process.argv.slice(2)
if (entries.length === 0) {
  console.error('usage: bundle-app.ts <entry.ts>…')
  process.exit(2)
}
for (const { file, bytes } of await bundle(entries.map((e) => resolve(e)), resolve('dist'), resolve('src'))) {
  console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`)
}
