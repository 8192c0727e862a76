import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadDotenv } from '../src/dotenv.ts'

t.test('.env fills what the shell left unset, and never overrides the shell', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-dotenv-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, '.env')
  writeFileSync(path, 'TRIBUTARY_DOTENV_A=from-file\nTRIBUTARY_DOTENV_B=from-file\n')
  process.env.TRIBUTARY_DOTENV_B = 'from-shell'
  delete process.env.TRIBUTARY_DOTENV_A
  t.teardown(() => {
    delete process.env.TRIBUTARY_DOTENV_A
    delete process.env.TRIBUTARY_DOTENV_B
  })
  t.equal(loadDotenv(path), true)
  t.equal(process.env.TRIBUTARY_DOTENV_A, 'from-file')
  t.equal(process.env.TRIBUTARY_DOTENV_B, 'from-shell')
  t.equal(loadDotenv(join(dir, 'missing.env')), false, 'no file: nothing to read')
})
