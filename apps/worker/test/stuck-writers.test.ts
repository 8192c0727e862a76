import t, { type Test } from 'tap'
import postgres from 'postgres'
import { sql } from 'drizzle-orm'
import { createDatabase } from '@tributary/db'
import { emptyDatabase, waitUntil } from '@tributary/servers'
import { endStuckWriters, WORKER_APPLICATION_PREFIX } from '../src/persist/stuck-writers.ts'

/** A session that took a row lock and then went silent inside its transaction, as a worker cut off mid-batch does. */
async function silentLockHolder(t: Test, url: string, applicationName: string, key: string) {
  const session = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: applicationName } })
  t.teardown(() => session.end({ timeout: 1 }).catch(() => {}))
  const reserved = await session.reserve()
  await reserved`begin`
  await reserved`insert into held (k) values (${key})`
  return { session, reserved }
}

t.test('a silent worker transaction that blocks a peer is ended; others are left alone', async (t) => {
  const { url } = await emptyDatabase(t)
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => admin.end())
  await admin`create table held (k text primary key)`
  const peer = createDatabase(url, { applicationName: `${WORKER_APPLICATION_PREFIX}peer` })
  t.teardown(() => peer.close())

  const stuck = await silentLockHolder(t, url, `${WORKER_APPLICATION_PREFIX}stuck`, 'a')
  const stranger = await silentLockHolder(t, url, 'some-other-app', 'b')
  // Drizzle queries run when awaited: start both now.
  const blockedOnWorker = peer.db.execute(sql`insert into held (k) values ('a') on conflict do nothing`).then(() => 'done')
  const blockedOnStranger = peer.db.execute(sql`insert into held (k) values ('b') on conflict do nothing`).then(() => 'done', () => 'failed')
  await waitUntil('both peer writes waiting on locks', async () => {
    const [row] = await admin`select count(*)::int as n from pg_stat_activity where application_name = ${`${WORKER_APPLICATION_PREFIX}peer`} and wait_event_type = 'Lock'`
    if (row!.n !== 2) throw new Error(`${row!.n} waiting`)
  }, 10_000)

  t.equal(await endStuckWriters(peer.db, 60_000), 0, 'a transaction silent for less than the limit is left alone')
  await new Promise((r) => setTimeout(r, 600))
  t.equal(await endStuckWriters(peer.db, 500), 1, 'the worker transaction silent for longer than the limit is ended')
  t.equal(await blockedOnWorker, 'done', "the peer's write goes through once the stuck one is gone")
  await t.rejects(stuck.reserved`select 1`, 'the stuck session finds its connection ended')
  t.equal(await Promise.race([blockedOnStranger, new Promise((r) => setTimeout(r, 300, 'still waiting'))]), 'still waiting', "another application's session is never touched")
  stranger.reserved`rollback`.catch(() => {})
  t.equal(await blockedOnStranger, 'done', "and its lock, once released, lets the peer's write through")
})
