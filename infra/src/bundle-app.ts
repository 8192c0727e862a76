import { build } from 'esbuild'
import { copyFileSync, readdirSync } from 'node:fs'
import { basename, resolve } from 'node:path'

/**
 * `pnpm build` in an app: one ESM file per entry in dist/, with the workspace packages
 * (TypeScript sources) compiled in and npm dependencies left as imports, so the production
 * image runs plain `node dist/<entry>.js` with no TypeScript loader.
 */
const entries = process.argv.slice(2)
if (entries.length === 0) {
  console.error('usage: bundle-app.ts <entry.ts>…')
  process.exit(2)
}

const result = await build({
  entryPoints: entries.map((e) => resolve(e)),
  outdir: resolve('dist'),
  entryNames: '[name]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  // ESM output still needs `require` for the CommonJS dependencies esbuild leaves external.
  banner: { js: "import { createRequire as __tributaryRequire } from 'node:module'; const require = __tributaryRequire(import.meta.url);" },
  plugins: [
    {
      name: 'externalise-npm-packages',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@tributary/') ? undefined : { path: args.path, external: true }))
      },
    },
  ],
})
// Lua scripts are read at run time from beside the module that loads them.
for (const file of readdirSync(resolve('src'), { recursive: true, encoding: 'utf8' })) {
  if (file.endsWith('.lua')) copyFileSync(resolve('src', file), resolve('dist', basename(file)))
}
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.js')) console.log(`${basename(file)}  ${(info.bytes / 1024).toFixed(1)} KiB`)
}
