import t from 'tap'
import { loadIngestConfig } from '../src/config.ts'

t.test('ingest config: spec defaults', async (t) => {
  const config = loadIngestConfig({ DATABASE_URL: 'postgres://u@h/db', REDIS_URL: 'redis://h:6379' })
  t.match(config, { PORT: 3000, HOST: '127.0.0.1', LOG_LEVEL: 'info', STREAM_SHARDS: 4, SESSION_TIMEOUT_MINUTES: 30 })
})

t.test('ingest config: all problems at once', async (t) => {
  const error = t.throws(() => loadIngestConfig({ DATABASE_URL: 'mysql://x', PORT: '-1', STREAM_SHARDS: '0' })) as Error & { issues: { variable: string }[] }
  t.same(error.issues.map((i) => i.variable).sort(), ['DATABASE_URL', 'PORT', 'REDIS_URL', 'STREAM_SHARDS'])
})
