import { startTestServers } from '@tributary/servers'
import { benchEndToEnd } from './end-to-end.ts'

/** `tsx src/end-to-end-only.ts [stepSeconds] [holdSeconds]`: just the end-to-end ramp (BENCH_E2E_RATES=20000,50000 sets its steps). */
const servers = await startTestServers({ appendfsync: 'always', postgresFsync: true })
try {
  const result = await benchEndToEnd(servers, { stepSeconds: Number(process.argv[2] ?? 15), holdSeconds: Number(process.argv[3] ?? 60), rates: process.env.BENCH_E2E_RATES ? process.env.BENCH_E2E_RATES.split(',').map(Number) : [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000] })
  console.log(JSON.stringify(result, null, 2))
} finally {
  await servers.stop()
}
