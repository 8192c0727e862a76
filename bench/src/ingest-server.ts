import { pino } from 'pino'
import { buildApp } from '@tributary/ingest'
import { loadIngestConfig } from '@tributary/ingest/config'
import type { EventLog } from '@tributary/ingest/event-log'

/**
 * One ingest process for the benchmark, in its own process so it does not share an event
 * loop with the load generator. MODE=ceiling swaps the Redis event log for one that does
 * nothing: same routes, auth, parsing, validation and normalisation, no Redis write.
 */
const config = loadIngestConfig()
const ceiling: EventLog = {
  appendEvents: async (_tenant, _key, events) => ({ outcome: 'ok', statuses: events.map(() => 'accepted' as const) }),
  session: async () => ({ outcome: 'ok' }),
}
const app = await buildApp({ config, logger: pino({ level: 'warn' }), ...(process.env.MODE === 'ceiling' ? { eventLog: ceiling } : {}) })
await app.listen({ port: config.PORT, host: '127.0.0.1' })
process.send?.({ ready: true })
process.on('message', (message: { rss?: boolean }) => {
  if (message.rss) process.send?.({ rss: process.memoryUsage().rss })
})
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
