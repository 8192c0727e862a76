import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Redis } from 'ioredis'
import { freePort, isAlive, queryPostgres } from '@tributary/servers'
import { runScript, scratchStateDir } from './fixtures/run.ts'

t.test('stack up starts redis (AOF, noeviction, loopback) and postgres; down stops both', async (t) => {
  const stateDir = scratchStateDir(t)
  const env = {
    TRIBUTARY_STATE_DIR: stateDir,
    TRIBUTARY_REDIS_PORT: String(await freePort()),
    TRIBUTARY_POSTGRES_PORT: String(await freePort()),
  }
  const up = runScript('infra/src/stack-cli.ts', ['up'], env)
  t.equal(await up.exited, 0, up.output())
  const redisUrl = /REDIS_URL=(\S+)/.exec(up.output())?.[1]
  const databaseUrl = /DATABASE_URL=(\S+)/.exec(up.output())?.[1]
  t.equal(redisUrl, `redis://127.0.0.1:${env.TRIBUTARY_REDIS_PORT}`)
  t.ok(databaseUrl)

  const redis = new Redis(redisUrl!)
  t.teardown(() => redis.disconnect())
  t.same(await redis.config('GET', 'appendonly'), ['appendonly', 'yes'])
  t.same(await redis.config('GET', 'appendfsync'), ['appendfsync', 'always'])
  t.same(await redis.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction'])
  t.same(await redis.config('GET', 'auto-aof-rewrite-min-size'), ['auto-aof-rewrite-min-size', String(2 ** 30)])
  t.same(await redis.config('GET', 'lazyfree-lazy-expire'), ['lazyfree-lazy-expire', 'yes'])
  t.same(await redis.config('GET', 'bind'), ['bind', '127.0.0.1'])
  const [row] = await queryPostgres(databaseUrl!, (sql) => sql`select current_database() as db, current_setting('listen_addresses') as listen`)
  t.same(row, { db: 'tributary', listen: '127.0.0.1' })

  const state = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as { redis: { pid: number }; postgres: { pid: number } }
  t.ok(isAlive(state.redis.pid) && isAlive(state.postgres.pid), 'both recorded and running')

  const again = runScript('infra/src/stack-cli.ts', ['up'], env)
  t.equal(await again.exited, 0)
  t.notMatch(again.output(), /started/, 'a running stack is reused, not started twice')

  const status = runScript('infra/src/stack-cli.ts', ['status'], env)
  t.equal(await status.exited, 0)
  t.match(status.output(), /redis\s+running/)
  t.match(status.output(), /postgres\s+running/)

  redis.disconnect()
  const down = runScript('infra/src/stack-cli.ts', ['down'], env)
  t.equal(await down.exited, 0, down.output())
  t.match(down.output(), /redis-server: stopped/)
  t.match(down.output(), /postgres: stopped/)
  t.notOk(isAlive(state.redis.pid), 'redis is gone')
  t.notOk(isAlive(state.postgres.pid), 'postgres is gone')
})

t.test('a taken port is named in the error', async (t) => {
  const stateDir = scratchStateDir(t)
  const blocker = new (await import('node:net')).Server()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const up = runScript('infra/src/stack-cli.ts', ['up'], { TRIBUTARY_STATE_DIR: stateDir, TRIBUTARY_REDIS_PORT: String(port), TRIBUTARY_POSTGRES_PORT: String(await freePort()) })
  t.equal(await up.exited, 1)
  t.match(up.output(), new RegExp(`port ${port} .* taken .* TRIBUTARY_REDIS_PORT`))
  t.notMatch(up.output(), /\n\s+at /, 'one line, no stack trace')
})

t.test('Postgres failing to start stops the redis-server the same call started, so nothing is left running', async (t) => {
  const stateDir = scratchStateDir(t)
  const blocker = new (await import('node:net')).Server()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const postgresPort = (blocker.address() as { port: number }).port
  const redisPort = await freePort()
  const up = runScript('infra/src/stack-cli.ts', ['up'], { TRIBUTARY_STATE_DIR: stateDir, TRIBUTARY_REDIS_PORT: String(redisPort), TRIBUTARY_POSTGRES_PORT: String(postgresPort) })
  t.equal(await up.exited, 1)
  t.match(up.output(), /redis-server started/)
  t.match(up.output(), new RegExp(`port ${postgresPort} .* taken .* TRIBUTARY_POSTGRES_PORT`))
  t.match(up.output(), /redis-server: stopped/)
  const redis = new Redis(`redis://127.0.0.1:${redisPort}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  await t.rejects(redis.connect(), 'no redis-server left on its port')
  redis.disconnect()
  t.notOk(existsSync(join(stateDir, 'stack.json')), 'and none recorded')
})

t.test('stack:down leaves alone a program that took a recorded pid (after a reboot, say)', async (t) => {
  const stateDir = scratchStateDir(t)
  const stranger = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => stranger.kill('SIGKILL'))
  const pid = stranger.pid!
  writeFileSync(join(stateDir, 'stack.json'), JSON.stringify({
    redis: { pid, port: 16399, url: 'redis://127.0.0.1:16399' },
    postgres: { pid, port: 15499, url: 'postgres://postgres@127.0.0.1:15499/postgres', dataDir: join(stateDir, 'postgres') },
  }))
  const down = runScript('infra/src/stack-cli.ts', ['down'], { TRIBUTARY_STATE_DIR: stateDir })
  t.equal(await down.exited, 0, down.output())
  t.match(down.output(), new RegExp(`redis-server: pid ${pid} is no longer the stack's redis-server`))
  t.match(down.output(), new RegExp(`postgres: pid ${pid} is no longer the stack's postgres`))
  t.ok(isAlive(pid), 'the other program still runs')
  t.notOk(existsSync(join(stateDir, 'stack.json')), 'and the stale record is gone')
})
