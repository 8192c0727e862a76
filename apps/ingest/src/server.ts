import closeWithGrace from 'close-with-grace'
import { ConfigError } from '@tributary/shared'
import { buildApp } from './app.ts'
import { loadIngestConfig } from './config.ts'

/**
 * Process entry: config, build, listen, and a graceful close on SIGINT/SIGTERM (in-flight
 * requests finish, connections to Redis and Postgres close in onClose hooks). A second
 * signal, or 10 s without finishing, exits at once.
 */
let config
try {
  config = loadIngestConfig()
} catch (err) {
  console.error(err instanceof ConfigError ? `ingest: ${err.message}` : err)
  process.exit(1)
}

const app = await buildApp({ config })
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an unexpected error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})
await app.listen({ port: config.PORT, host: config.HOST })
