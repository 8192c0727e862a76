import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { isAlive, startTestServers } from '../src/index.ts'

const FIXTURE = new URL('./fixtures/own-servers.ts', import.meta.url).pathname

t.test('servers whose owner is killed without stopping them go too, folder and all', async (t) => {
  const owner = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => void owner.kill('SIGKILL'))
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    owner.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    owner.once('exit', (code) => reject(new Error(`the owner exited with ${code} before its servers were up`)))
  })
  const { redis, postgres, dir } = JSON.parse(line) as { redis: number; postgres: number; dir: string }
  t.ok(existsSync(dir), 'the servers have their folder')
  t.ok(isAlive(redis) && isAlive(postgres), 'both servers run')

  // What tap does to a test file past its timeout, or an operator to a stuck bench.
  owner.kill('SIGKILL')
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && (isAlive(redis) || isAlive(postgres) || existsSync(dir))) await sleep(100)
  t.notOk(isAlive(redis), 'redis-server stopped')
  t.notOk(isAlive(postgres), 'postgres stopped')
  t.notOk(existsSync(dir), 'their folder removed')
})

t.test('stop() stops both and removes the folder', async (t) => {
  const servers = await startTestServers()
  t.ok(existsSync(servers.dir))
  await servers.stop()
  t.notOk(isAlive(servers.redis.pid))
  t.notOk(isAlive(servers.postgres.pid))
  t.notOk(existsSync(servers.dir), 'the folder is gone')
})
