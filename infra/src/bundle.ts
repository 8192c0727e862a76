import { copyFileSync, readdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { build } from 'esbuild'

/**
 * One ESM file per entry in `outdir`, with the workspace packages (TypeScript sources)
 * compiled in and npm dependencies left as imports, so it runs with plain `node`. Lua
 * scripts found under `luaFrom` are copied beside it (they are read at run time from beside
 * the module that loads them).
 */
export async function bundle(entries: string[], outdir: string, luaFrom?: string) {
  const result = await build({
    entryPoints: entries,
    outdir,
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
  if (luaFrom) {
    for (const file of readdirSync(luaFrom, { recursive: true, encoding: 'utf8' })) {
      if (file.endsWith('.lua')) copyFileSync(join(luaFrom, file), join(outdir, basename(file)))
    }
  }
  return Object.entries(result.metafile.outputs)
    .filter(([file]) => file.endsWith('.js'))
    .map(([file, info]) => ({ file: basename(file), bytes: info.bytes }))
}
