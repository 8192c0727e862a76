import { startTestServers } from '@tributary/servers'
import { benchWorker } from './worker.ts'

/** `tsx src/worker-only.ts [events]`: just the worker-against-COPY measurement. */
const servers = await startTestServers({ appendfsync: 'everysec', postgresFsync: true })
try {
  const result = await benchWorker(servers, Number(process.argv[2] ?? 500_000))
  console.log(JSON.stringify(result, null, 2))
} finally {
  await servers.stop()
}
