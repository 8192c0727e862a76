/**
 * Node flags each app runs with, wherever it runs: the image's CMD (infra/docker/Dockerfile),
 * the apps' start scripts, `pnpm start` and `pnpm bench`. infra/test/node-flags.test.ts
 * checks that the files that cannot import this list carry the same flags.
 *
 * Ingest: a 32 MB young generation (`--max-semi-space-size`, Node 20's default grows to
 * 16 MB). A request's parsed body and events live for the few milliseconds its append waits
 * on Redis; in a smaller young generation they outlive a scavenge and are copied to the old
 * generation, which then needs full collections. Measured with one ingest process
 * (`bench/src/profile-ingest.ts real`, two runs each): 1,070 → 1,330 requests/s of 50
 * events, 865 → 655 µs of CPU per request, peak RSS ~215 → ~255 MB. The worker showed no
 * gain (it waits on Postgres), so it keeps the default.
 */
export const NODE_FLAGS = {
  ingest: ['--max-semi-space-size=32'],
  worker: [],
} as const satisfies Record<string, readonly string[]>
