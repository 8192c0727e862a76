import { hostname } from 'node:os'
import { Type, type Static } from '@sinclair/typebox'
import { commonEnv, loadConfig, Port, PositiveInt } from '@tributary/shared'

export const workerEnv = Type.Object({
  ...commonEnv,
  WORKER_PORT: Port(3001, 'port of the worker health and metrics server'),
  WORKER_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\w.:-]+$', description: 'consumer name; keep it stable across restarts (default: hostname-WORKER_PORT)' })),
  BATCH_MAX_EVENTS: PositiveInt(10_000, 'most events written to Postgres in one transaction', 100_000),
  BATCH_MAX_BYTES: PositiveInt(16 * 1_048_576, 'most bytes in one batch: its entries as read, plus their events unpacked', 512 * 1_048_576),
  BATCH_MAX_WAIT_MS: PositiveInt(50, 'longest a batch waits to fill before it is written (ms)', 60_000),
  WRITE_CONCURRENCY: PositiveInt(3, 'batches written at once, each on its own Postgres connection', 16),
  READ_BLOCK_MS: PositiveInt(2_000, 'how long one XREADGROUP blocks waiting for entries (ms)', 60_000),
  CLAIM_IDLE_MS: PositiveInt(60_000, 'entries pending this long with another consumer are taken over (ms); keep it well above the longest batch', 24 * 3_600_000),
  TRIM_INTERVAL_MS: PositiveInt(10_000, 'how often acknowledged entries are trimmed from the streams (ms)', 3_600_000),
  SYNC_INTERVAL_MS: PositiveInt(60_000, 'how often cleanup-and-sync runs (one replica at a time) (ms)', 86_400_000),
  BACKLOG_WARN_ENTRIES: PositiveInt(100_000, 'entries not yet acknowledged, summed over every shard, above which the worker logs a warning', 2 ** 31 - 1),
  STATEMENT_TIMEOUT_MS: PositiveInt(30_000, 'Postgres statement timeout for batch writes (ms)', 3_600_000),
  TRANSACTION_IDLE_TIMEOUT_MS: PositiveInt(10_000, 'a worker transaction waiting this long on its silent worker (cut off or frozen mid-write) is ended — by Postgres between statements, by a peer whose write it blocks otherwise — so the peer taking the batch over is not blocked by its locks (ms)', 3_600_000),
  FAULT_CRASH_AT: Type.Optional(
    Type.Union([Type.Literal('after_read'), Type.Literal('after_commit')], {
      description: 'fault injection for crash tests only: the worker SIGKILLs itself at this point of its first non-empty batch',
    }),
  ),
})

export type WorkerConfig = Static<typeof workerEnv> & { WORKER_NAME: string }

/** The only reader of process.env in the worker app. */
// eslint-disable-next-line no-restricted-properties
export function loadWorkerConfig(source: Record<string, string | undefined> = process.env): WorkerConfig {
  const config = loadConfig(workerEnv, source)
  return { ...config, WORKER_NAME: config.WORKER_NAME ?? `${hostname()}-${config.WORKER_PORT}` }
}
