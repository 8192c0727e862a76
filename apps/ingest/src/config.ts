import { Type, type Static } from '@sinclair/typebox'
import { commonEnv, loadConfig, Port, PositiveInt } from '@tributary/shared'

export const ingestEnv = Type.Object({
  ...commonEnv,
  PORT: Port(3000, 'port the ingest API listens on'),
  KEY_CACHE_TTL_MS: PositiveInt(5_000, 'how long a verified API key is trusted before Postgres is asked again (ms)', 600_000),
})

export type IngestConfig = Static<typeof ingestEnv>

/** The only reader of process.env in the ingest app. */
// eslint-disable-next-line no-restricted-properties
export function loadIngestConfig(source: Record<string, string | undefined> = process.env): IngestConfig {
  return loadConfig(ingestEnv, source)
}
