import { parseArgs } from 'node:util'
import { createDatabase, InvalidTimezoneError, TenantExistsError } from '@tributary/db'
import { ConfigError } from '@tributary/shared'
import { keysList, keysRevoke, keysRotate } from './commands/keys.ts'
import { tenantCreate, tenantList } from './commands/tenant.ts'
import { databaseUrl, UsageError } from './config.ts'
import { Output } from './output.ts'

const USAGE = `usage: pnpm tributary <command> [options]

  tenant create <name> [--timezone <IANA zone>] [--json]   create a tenant; prints its write and read keys once
  tenant list [--json]
  keys list <tenant>                                        a tenant's keys (prefixes only)
  keys rotate <tenant> [--kind write|read] [--json]         issue a new key; the old ones keep working until revoked
  keys revoke <prefix|key id>                               revoke a key at once

<tenant> is a tenant name or id. The database is DATABASE_URL, or the local stack of this checkout.`

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      timezone: { type: 'string', default: 'UTC' },
      kind: { type: 'string', default: 'write' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const [group, action, arg] = positionals
  if (values.help || !group) {
    console.log(USAGE)
    return values.help ? 0 : 2
  }
  const out = new Output(values.json)
  const command = `${group} ${action ?? ''}`.trim()
  const needsArg = ['tenant create', 'keys list', 'keys rotate', 'keys revoke']
  if (needsArg.includes(command) && !arg) throw new UsageError(`${command} needs an argument\n\n${USAGE}`)
  if (command === 'keys rotate' && values.kind !== 'write' && values.kind !== 'read') throw new UsageError('--kind is write or read')
  if (![...needsArg, 'tenant list'].includes(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`)

  const { db, close } = createDatabase(databaseUrl(), { applicationName: 'tributary-cli', maxConnections: 1 })
  try {
    if (command === 'tenant create') await tenantCreate(db, out, arg!, values.timezone)
    else if (command === 'tenant list') await tenantList(db, out)
    else if (command === 'keys list') await keysList(db, out, arg!)
    else if (command === 'keys rotate') await keysRotate(db, out, arg!, values.kind as 'write' | 'read')
    else if (command === 'keys revoke') await keysRevoke(db, out, arg!)
  } finally {
    await close()
  }
  return 0
}

try {
  process.exitCode = await run(process.argv.slice(2))
} catch (err) {
  const badArguments = err instanceof UsageError || String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')
  const expected = badArguments || err instanceof ConfigError || err instanceof TenantExistsError || err instanceof InvalidTimezoneError
  console.error(expected ? `tributary: ${(err as Error).message}` : err)
  process.exitCode = badArguments ? 2 : 1
}
