import net from 'node:net'
import t from 'tap'
import { emptyDatabase } from '@tributary/servers'
import { createDatabase } from '../src/client.ts'

t.test("connections to Postgres turn Nagle's algorithm off (TCP_NODELAY), as libpq does", async (t) => {
  // postgres.js does not set it; patches/postgres@3.4.9.patch does. Without it the statement
  // after a COPY waited ~40 ms for Postgres's delayed ACK: the worker's activity_deltas insert
  // took 32–44 ms instead of 8–10 (BENCHMARKS.md, Worker).
  const empty = await emptyDatabase(t)
  const { port } = new URL(empty.url)
  const calls: Array<{ remotePort: number | undefined; enable: boolean | undefined }> = []
  const original = net.Socket.prototype.setNoDelay
  net.Socket.prototype.setNoDelay = function (this: net.Socket, enable?: boolean) {
    calls.push({ remotePort: this.remotePort, enable })
    return original.call(this, enable)
  }
  t.teardown(() => {
    net.Socket.prototype.setNoDelay = original
  })
  const { sql, close } = createDatabase(empty.url, { applicationName: 'tributary-test', maxConnections: 3 })
  t.teardown(close)
  // Three connections at once, each set up by its own socket.
  await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`))
  const toPostgres = calls.filter((c) => c.remotePort === Number(port))
  t.equal(toPostgres.length, 3, 'once per connection')
  t.ok(toPostgres.every((c) => c.enable === true), 'each turned on')
})
