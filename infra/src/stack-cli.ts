// First: .env must be in process.env before the modules below read it as they load.
import './dotenv.ts'
import { MissingBinaryError } from '@tributary/servers'
import { StackError, stackDown, stackStatus, stackUp } from './stack.ts'

/** `pnpm stack:up|down|status`: the local redis-server and Postgres, left running in the background. */
const command = process.argv[2]
try {
  if (command === 'up') {
    const up = await stackUp()
    console.log(`REDIS_URL=${up.redisUrl}\nDATABASE_URL=${up.databaseUrl}`)
  } else if (command === 'down') {
    await stackDown()
  } else if (command === 'status') {
    const status = await stackStatus()
    for (const [name, server] of Object.entries(status)) {
      console.log(server ? `${name.padEnd(9)} ${server.running ? 'running' : 'stopped'}  pid ${server.pid}  ${server.url}` : `${name.padEnd(9)} not started`)
    }
  } else {
    console.error('usage: stack-cli.ts up|down|status')
    process.exitCode = 2
  }
} catch (err) {
  console.error(err instanceof MissingBinaryError || err instanceof StackError ? err.message : err)
  process.exitCode = 1
}
