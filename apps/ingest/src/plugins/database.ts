import fp from 'fastify-plugin'
import { createDatabase, createKeyVerifier, type Database, type KeyVerifier } from '@tributary/db'
import type postgres from 'postgres'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    sql: postgres.Sql
    keys: KeyVerifier
  }
}

export default fp<{ url: string; keyCacheTtlMs: number }>(
  async (app, { url, keyCacheTtlMs }) => {
    const { db, sql, close } = createDatabase(url, { applicationName: 'tributary-ingest', maxConnections: 10 })
    app.decorate('db', db)
    app.decorate('sql', sql)
    app.decorate('keys', createKeyVerifier(db, { ttlMs: keyCacheTtlMs }))
    app.addHook('onClose', close)
  },
  { name: 'database' },
)
