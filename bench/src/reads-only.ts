import { startTestServers } from '@tributary/servers'
import { benchReads } from './reads.ts'

/** `tsx src/reads-only.ts [events]`: just the read-latency measurement (default 10 million events). */
const servers = await startTestServers()
try {
  console.log(JSON.stringify(await benchReads(servers, Number(process.argv[2] ?? 10_000_000)), null, 2))
} finally {
  await servers.stop()
}
