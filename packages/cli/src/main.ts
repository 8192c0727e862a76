import { parseArgs } from 'node:util'
import { createDatabase, InvalidTimezoneError, TenantExistsError } from '@tributary/db'
import { ConfigError, KEY_REVOCATIONS_CHANNEL } from '@tributary/shared'
import { keysList, keysRevoke, keysRotate, revokeTarget } from './commands/keys.ts'
import { tenantCreate, tenantList } from './commands/tenant.ts'
import { databaseUrl, redisUrl, sessionTimeoutMinutes, streamShards, UsageError } from './config.ts'
import { dlqDrop, dlqList, dlqReplay, dlqShow } from './commands/dead-letters.ts'
import { recompute, status, syncNow } from './commands/operations.ts'
import { Redis } from 'ioredis'
import { Output } from './output.ts'
import { describeServerFailure, OperationError } from './failures.ts'

const USAGE = `usage: pnpm tributary <command> [options]

  tenant create <name> [--timezone <IANA zone>] [--json]   create a tenant; prints its write and read keys once
  tenant list [--json]
  keys list <tenant> [--json]                               a tenant's keys (prefixes only)
  keys rotate <tenant> [--kind write|read] [--json]         issue a new key; the old ones keep working until revoked
  keys revoke <prefix|key id> [--json]                      revoke a key at once (the prefix as keys list shows it)
  status [--json]                                           streams (length, undelivered, pending, oldest pending, dead letters), workers, schema, Redis's eviction policy, last sync;
                                                            exit 1 when something needs an operator (pending migrations, an evicting Redis, a figure it could not read)
  dlq list [--shard N] [--limit 20] [--json]                entries the workers could not write, with the reason
  dlq show <id> [--shard N] [--json]                        a dead letter's reason and its events, decoded
  dlq replay [<id>] [--shard N] [--json]                    put dead letters back into their streams: one, or all (of a shard)
  dlq drop <id> [--shard N] [--json]                        delete one dead letter whose events must never be stored
  sync [--tenant <tenant>] [--json]                         run cleanup-and-sync now
  recompute <tenant> --from <date> --to <date> [--json]     rebuild a tenant's daily figures for those days (at most 366) from the stored
                                                            rows, then sync it: after a restore or a bulk load that no worker wrote

<tenant> is a tenant name or id; a dead letter's <id> (or --id <id>) is its own id or its entry's id in the stream. DATABASE_URL and REDIS_URL, or else the local stack of this
checkout; STREAM_SHARDS (4) as the apps have it; SESSION_TIMEOUT_MINUTES (30) for sync.`

/** What the Redis connection last reported, for the one-line message when a command gives up. */
let lastRedisError: Error | undefined

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      // No defaults here: an option given to a command it is not for is refused, not ignored.
      timezone: { type: 'string' },
      kind: { type: 'string' },
      shard: { type: 'string' },
      limit: { type: 'string' },
      id: { type: 'string' },
      tenant: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  // A command of one word takes its argument where the others have their second word.
  const oneWord = ['status', 'sync', 'recompute']
  const [group, ...words] = positionals
  const [action, positionalArg, ...extra] = group !== undefined && oneWord.includes(group) ? [undefined, ...words] : words
  if (values.help || !group) {
    console.log(USAGE)
    return values.help ? 0 : 2
  }
  const out = new Output(values.json)
  const command = `${group} ${action ?? ''}`.trim()
  const needsArg = ['tenant create', 'keys list', 'keys rotate', 'keys revoke', 'dlq show', 'dlq drop', 'recompute']
  const optionalArg = ['dlq replay']
  const noArg = ['status', 'sync', 'tenant list', 'dlq list']
  if (![...needsArg, ...optionalArg, ...noArg].includes(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`)
  // A dead letter's id, as an argument or as --id, the same for show, replay and drop.
  if (values.id !== undefined && !command.startsWith('dlq ')) throw new UsageError('--id is for the dlq commands')
  if ((values.from !== undefined || values.to !== undefined) && command !== 'recompute') throw new UsageError('--from and --to are for recompute')
  if (values.tenant !== undefined && command !== 'sync') throw new UsageError(`--tenant is for sync${command === 'recompute' ? '; recompute takes the tenant as its argument' : ''}`)
  // `dlq replay --limit 5` would otherwise replay every dead letter, not five.
  if (values.limit !== undefined && command !== 'dlq list') throw new UsageError(`--limit is for dlq list${command === 'dlq replay' ? '; dlq replay puts back one dead letter (by id) or all of them (of a shard with --shard)' : ''}`)
  if (values.shard !== undefined && !command.startsWith('dlq ')) throw new UsageError('--shard is for the dlq commands')
  if (values.timezone !== undefined && command !== 'tenant create') throw new UsageError('--timezone is for tenant create')
  if (values.kind !== undefined && command !== 'keys rotate') throw new UsageError('--kind is for keys rotate')
  if (values.id !== undefined && positionalArg !== undefined && values.id !== positionalArg) throw new UsageError(`two ids: ${positionalArg} and --id ${values.id}; give one`)
  const arg = positionalArg ?? (command.startsWith('dlq ') ? values.id : undefined)
  // An empty one (`dlq replay "$ID"` with ID unset) is refused, not read as no id at all.
  if (arg !== undefined && arg.trim() === '') throw new UsageError(`${command} was given an empty argument`)
  // A word too many is refused, never ignored: `dlq replay` with a stray word would otherwise replay everything.
  const unexpected = noArg.includes(command) ? [arg, ...extra].filter((word) => word !== undefined) : extra
  if (unexpected.length > 0) throw new UsageError(`${command} takes ${noArg.includes(command) ? 'no argument' : 'one argument'}; unexpected "${unexpected.join(' ')}"\n\n${USAGE}`)
  if (command === 'dlq drop' && !arg) throw new UsageError('dlq drop needs the id of one dead letter: they are dropped one at a time (pnpm tributary dlq list)')
  if (needsArg.includes(command) && !arg) throw new UsageError(`${command} needs an argument\n\n${USAGE}`)
  const kind = values.kind ?? 'write'
  if (kind !== 'write' && kind !== 'read') throw new UsageError('--kind is write or read')
  if (values.shard !== undefined && !/^\d+$/.test(values.shard)) throw new UsageError(`--shard is a shard number (0, 1, …), not "${values.shard}"`)
  const shard = values.shard === undefined ? undefined : Number(values.shard)
  const limit = Number(values.limit ?? 20)
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit is a positive whole number')

  // The dlq commands need only Redis: no DATABASE_URL (or local Postgres) asked of them.
  const { db, close } = command.startsWith('dlq ') ? { db: undefined as never, close: async () => {} } : createDatabase(databaseUrl(), { applicationName: 'tributary-cli', maxConnections: 1 })
  let redis: Redis | undefined
  const redisClient = () => {
    // commandTimeout: a server that takes the connection and never answers fails the command instead of hanging it.
    redis ??= new Redis(redisUrl(), { maxRetriesPerRequest: 1, connectTimeout: 3_000, commandTimeout: 10_000 })
    // Each failed command says what went wrong; without a listener ioredis would also print every failed connect.
    redis.on('error', (err: Error) => (lastRedisError = err))
    return redis
  }
  try {
    if (command === 'status') return (await status(redisClient(), db, out, streamShards())) ? 0 : 1
    else if (command === 'dlq list') await dlqList(redisClient(), out, streamShards(), { ...(shard === undefined ? {} : { shard }), limit })
    else if (command === 'dlq show') await dlqShow(redisClient(), out, streamShards(), { ...(shard === undefined ? {} : { shard }), id: arg! })
    else if (command === 'dlq drop') await dlqDrop(redisClient(), out, streamShards(), { ...(shard === undefined ? {} : { shard }), id: arg! })
    else if (command === 'dlq replay') await dlqReplay(redisClient(), out, streamShards(), { ...(shard === undefined ? {} : { shard }), ...(arg ? { id: arg } : {}) })
    else if (command === 'sync') await syncNow(db, out, sessionTimeoutMinutes(), values.tenant)
    else if (command === 'recompute') await recompute(db, out, sessionTimeoutMinutes(), arg!, values.from, values.to)
    else if (command === 'tenant create') await tenantCreate(db, out, arg!, values.timezone ?? 'UTC')
    else if (command === 'tenant list') await tenantList(db, out)
    else if (command === 'keys list') await keysList(db, out, arg!)
    else if (command === 'keys rotate') await keysRotate(db, out, arg!, kind)
    else if (command === 'keys revoke') {
      await keysRevoke(db, out, arg!, async () => {
        try {
          await redisClient().publish(KEY_REVOCATIONS_CHANNEL, revokeTarget(arg!))
          return true
        } catch {
          return false
        }
      })
    }
  } finally {
    redis?.disconnect()
    await close()
  }
  return 0
}

try {
  process.exitCode = await run(process.argv.slice(2))
} catch (err) {
  const badArguments = err instanceof UsageError || String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')
  const expected = badArguments || err instanceof ConfigError || err instanceof TenantExistsError || err instanceof InvalidTimezoneError || err instanceof OperationError
  const serverFailure = expected ? undefined : describeServerFailure(err, lastRedisError)
  console.error(expected ? `tributary: ${(err as Error).message}` : serverFailure ? `tributary: ${serverFailure}` : err)
  process.exitCode = badArguments ? 2 : 1
}
