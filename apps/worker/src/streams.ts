import type { Redis } from 'ioredis'
import { CONSUMER_GROUP } from '@tributary/shared'

export interface StreamEntry {
  stream: string
  id: string
  /** null when the entry was deleted (trimmed) after it was delivered. */
  fields: string[] | null
}

/** Creates the consumer group on every stream from id 0; BUSYGROUP (it exists) is fine. */
export async function ensureGroups(redis: Redis, streams: string[]) {
  for (const stream of streams) {
    try {
      await redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err
    }
  }
}

type ReadReply = Array<[string, Array<[string, string[] | null]>]> | null

/**
 * XREADGROUP over several streams. A blocking read gets a deadline a little past its BLOCK
 * time: if the reply never comes (a half-open connection), the connection is dropped and
 * remade rather than waiting forever; what it may have delivered stays pending for us.
 */
export async function readGroup(redis: Redis, consumer: string, streams: string[], ids: string[], count: number, blockMs: number | undefined): Promise<StreamEntry[]> {
  const args: Array<string | number> = ['GROUP', CONSUMER_GROUP, consumer, 'COUNT', count]
  if (blockMs !== undefined) args.push('BLOCK', Math.ceil(blockMs))
  args.push('STREAMS', ...streams, ...ids)
  const read = redis.call('XREADGROUP', ...args) as Promise<ReadReply>
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      redis.disconnect(true)
      reject(new Error('XREADGROUP did not answer in time; reconnected'))
    }, (blockMs ?? 0) + 10_000)
  })
  try {
    const reply = await Promise.race([read, deadline])
    const entries: StreamEntry[] = []
    for (const [stream, list] of reply ?? []) for (const [id, fields] of list) entries.push({ stream, id, fields })
    return entries
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resets the idle time of those of `ids` that `consumer` still owns, so that no peer's claim
 * sweep takes them while their write is retried, and leaves alone any a peer has claimed in
 * the meantime (a plain XCLAIM with min-idle 0 would take them back, and both would write
 * them). The ownership check and the XCLAIM are one script. Returns the ids renewed, and
 * those pending with another consumer (ids pending with no one — acknowledged, or gone with
 * a group Redis lost — are in neither).
 */
const RENEW_OWN_CLAIMS = `local mine, theirs = {}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 then
    if p[1][2] == ARGV[2] then mine[#mine + 1] = ARGV[i] else theirs[#theirs + 1] = ARGV[i] end
  end
end
for from = 1, #mine, 1000 do
  local args = { KEYS[1], ARGV[1], ARGV[2], 0 }
  for i = from, math.min(from + 999, #mine) do args[#args + 1] = mine[i] end
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
end
return { mine, theirs }`

export async function renewOwnClaims(redis: Redis, stream: string, consumer: string, ids: string[]): Promise<{ renewed: string[]; peers: string[] }> {
  const [renewed, peers] = (await redis.eval(RENEW_OWN_CLAIMS, 1, stream, CONSUMER_GROUP, consumer, ...ids)) as [string[], string[]]
  return { renewed, peers }
}
