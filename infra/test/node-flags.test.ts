import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { NODE_FLAGS } from '../src/node-flags.ts'
import { REPO_ROOT } from '../src/paths.ts'

t.test('the image and the start scripts run each app with its Node flags', async (t) => {
  const cmd = readFileSync(join(REPO_ROOT, 'infra/docker/Dockerfile'), 'utf8').split('\n').find((line) => line.startsWith('CMD '))!
  const ingestCommand = /exec (node [^;"]*dist\/server\.js)/.exec(cmd)?.[1]
  const workerCommand = /exec (node [^;"]*dist\/main\.js)/.exec(cmd)?.[1]
  t.ok(ingestCommand && workerCommand, `the CMD starts either app: ${cmd}`)
  const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'apps/ingest/package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  for (const flag of NODE_FLAGS.ingest) {
    t.ok(ingestCommand!.split(' ').includes(flag), `image, ingest: ${flag}`)
    t.notOk(workerCommand!.split(' ').includes(flag), `image, worker: not ${flag}`)
    t.ok(scripts.start!.split(' ').includes(flag), `apps/ingest start: ${flag}`)
    t.ok(scripts['start:dist']!.split(' ').includes(flag), `apps/ingest start:dist: ${flag}`)
  }
})
