import { Type, type Static } from '@sinclair/typebox'
import { commonEnv, loadConfig, Port, PositiveInt } from '@tributary/shared'

const NonNegativeInt = (defaultValue: number, description: string) => Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: defaultValue, description })

export const ingestEnv = Type.Object({
  ...commonEnv,
  PORT: Port(3000, 'port the ingest API listens on'),
  KEY_CACHE_TTL_MS: PositiveInt(5_000, 'how long a verified API key is trusted before Postgres is asked again (ms)', 600_000),
  REQUEST_TIMEOUT_MS: PositiveInt(30_000, 'a request (headers and body) must arrive within this time, or the connection is closed with a 408 (ms)', 600_000),
  BODY_LIMIT_BYTES: PositiveInt(1_048_576, 'largest ingestion body, measured after decompression (bytes)', 64 * 1_048_576),
  DEDUP_WINDOW_SECONDS: PositiveInt(3_600, 'how long an event id is remembered so a resend changes nothing (s); Redis keeps ~76 bytes per event for this long, and up to a third longer (the ids are kept in 4 sets of a third of the window each)', 7 * 86_400),
  SESSION_STATE_TTL_SECONDS: PositiveInt(86_400, 'how long a started session is remembered for heartbeats, ends and events naming it (s)', 30 * 86_400),
  RATE_LIMIT_EVENTS_PER_SECOND: NonNegativeInt(10_000, 'events per second one write key may send, across all ingest processes (0: no limit)'),
  SYNC_MIN_INTERVAL_MS: NonNegativeInt(2_000, "a tenant's POST /sync runs start at least this far apart, across all ingest processes; a call sooner is a 429 (0: not spaced) (ms)"),
  STREAM_BACKLOG_CAP: NonNegativeInt(200_000, 'stream entries per shard beyond which ingest answers 503 until workers catch up (0: no cap)'),
})

export type IngestConfig = Static<typeof ingestEnv>

/** The only reader of process.env in the ingest app. */
// eslint-disable-next-line no-restricted-properties
export function loadIngestConfig(source: Record<string, string | undefined> = process.env): IngestConfig {
  return loadConfig(ingestEnv, source)
}
