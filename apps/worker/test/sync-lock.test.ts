import t from 'tap'
import postgres from 'postgres'
import { cleanupAndSync } from '@tributary/db'
import { pipeline } from './fixtures/pipeline.ts'

t.test('cleanup-and-sync runs on one replica at a time; a replica dying mid-run frees the lock', async (t) => {
  const p = await pipeline(t)
  // Another replica, mid-run: it holds the lock inside an open transaction.
  const other = postgres(p.database.url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end({ timeout: 1 }).catch(() => {}))
  // Never resolves: the replica is still working when it dies.
  const held = new Promise<void>(() => {})
  let pid = 0
  const otherRun = other
    .begin(async (tx) => {
      ;[{ pid }] = (await tx`select pg_backend_pid() as pid, pg_advisory_xact_lock(hashtext('tributary:cleanup-and-sync'))`) as unknown as [{ pid: number }]
      await held
    })
    .catch(() => 'terminated')
  await p.waitFor(async () => pid !== 0, 'the other replica to take the lock')

  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: false }), { ran: false }, 'a periodic run skips while another runs')

  // The other replica dies: its connection goes, and the lock with it.
  await p.database.sql`select pg_terminate_backend(${pid})`
  t.equal(await otherRun, 'terminated')
  t.match(await cleanupAndSync(p.database.db, { sessionTimeoutMinutes: 30, wait: false }), { ran: true }, 'the next run goes ahead')
})
