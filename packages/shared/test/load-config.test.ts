import t from 'tap'
import { Type } from '@sinclair/typebox'
import { commonEnv, ConfigError, loadConfig, Port, PositiveInt } from '../src/index.ts'

const schema = Type.Object({
  ...commonEnv,
  PORT: Port(3000, 'port to listen on'),
  BATCH_SIZE: PositiveInt(500, 'events per batch', 10_000),
})

const valid = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', REDIS_URL: 'redis://127.0.0.1:6379' }

t.test('applies defaults and converts numbers', async (t) => {
  const config = loadConfig(schema, { ...valid, PORT: '8080' })
  t.equal(config.PORT, 8080)
  t.equal(config.BATCH_SIZE, 500)
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.STREAM_SHARDS, 4)
  t.equal(config.SESSION_TIMEOUT_MINUTES, 30)
})

t.test('ignores variables the schema does not name, and treats empty as unset', async (t) => {
  const config = loadConfig(schema, { ...valid, PORT: '', UNRELATED: 'x' })
  t.equal(config.PORT, 3000)
  t.notOk('UNRELATED' in config)
})

t.test('reports every invalid variable at once, with what was expected', async (t) => {
  const error = t.throws(() =>
    loadConfig(schema, { REDIS_URL: 'http://nope', PORT: 'eighty', BATCH_SIZE: '0', LOG_LEVEL: 'loud' }),
  ) as ConfigError
  t.type(error, ConfigError)
  const byVariable = Object.fromEntries(error.issues.map((i) => [i.variable, i]))
  t.same(Object.keys(byVariable).sort(), ['BATCH_SIZE', 'DATABASE_URL', 'LOG_LEVEL', 'PORT', 'REDIS_URL'])
  t.match(byVariable.DATABASE_URL!.message, /postgres:\/\//, 'missing variable says what to give')
  t.equal(byVariable.PORT!.received, 'eighty', 'shows what it got')
  t.match(byVariable.LOG_LEVEL!.message, /one of fatal/)
  t.match(error.message, /5 problems/)
  t.match(error.message, /BATCH_SIZE: .*events per batch/)
})

t.test('rejects numbers out of range and non-integers', async (t) => {
  const error = t.throws(() => loadConfig(schema, { ...valid, PORT: '70000', BATCH_SIZE: '2.5' })) as ConfigError
  t.same(error.issues.map((i) => i.variable).sort(), ['BATCH_SIZE', 'PORT'])
})
