import { Type, type Static } from '@sinclair/typebox'
import { commonEnv, loadConfig, Port } from '@tributary/shared'

export const workerEnv = Type.Object({
  ...commonEnv,
  WORKER_PORT: Port(3001, 'port of the worker health and metrics server'),
})

export type WorkerConfig = Static<typeof workerEnv>

/** The only reader of process.env in the worker app. */
// eslint-disable-next-line no-restricted-properties
export function loadWorkerConfig(source: Record<string, string | undefined> = process.env): WorkerConfig {
  return loadConfig(workerEnv, source)
}
