import t from 'tap'
import { pino } from 'pino'
import { jsonLines } from '@tributary/servers'
import { Worker } from '../src/worker.ts'
import { pipeline } from './fixtures/pipeline.ts'

/** A worker (not started: only its periodic sync runs) whose log lines are kept. */
function loggedWorker(p: Awaited<ReturnType<typeof pipeline>>) {
  const { sink, lines } = jsonLines<{ level: number; msg: string }>()
  const worker = new Worker({ config: p.workerConfig(), redis: p.redis, blocking: p.redis, db: p.database.db, log: pino({ level: 'info' }, sink) })
  return { worker, syncLines: () => lines.filter((l) => l.msg.startsWith('cleanup-and-sync')) }
}

/** Three page views on a past day, as a worker writes them (rows and activity deltas). */
async function pastViews(p: Awaited<ReturnType<typeof pipeline>>, page: string) {
  const { sql } = p.database
  await sql`
    insert into user_activities (tenant_id, event_id, user_key, type, page, occurred_at, received_at)
    select ${p.tenant.tenantId}, 'e' || n, 'u' || n, 'pageview', ${page}, '2026-11-01 12:00Z', now() from generate_series(1, 3) n`
  await sql`insert into activity_deltas (tenant_id, date, user_key, events, page_views) values (${p.tenant.tenantId}, '2026-11-01', 'u1', 3, 3)`
}

t.test('a sync that built its days logs one line at info', async (t) => {
  const p = await pipeline(t)
  await pastViews(p, '/a')
  const { worker, syncLines } = loggedWorker(p)
  t.match(await worker.sync(), { ran: true, syncedDays: 1, namedDays: 1 })
  t.same(syncLines().map((l) => [l.level, l.msg]), [[30, 'cleanup-and-sync']])
})

t.test('a sync whose build failed logs one warning, not the warning and the info line', async (t) => {
  const p = await pipeline(t)
  await pastViews(p, '/boom')
  const { sql } = p.database
  await sql`create function refuse_boom() returns trigger language plpgsql as $$ begin if new.page = '/boom' then raise exception 'refused'; end if; return new; end $$`
  await sql`create trigger refuse_boom before insert on daily_pages for each row execute function refuse_boom()`
  const { worker, syncLines } = loggedWorker(p)
  t.match(await worker.sync(), { ran: true, syncedDays: 1, namedDays: 0, namesError: /refused/ })
  const lines = syncLines()
  t.equal(lines.length, 1, 'one line for the run')
  t.equal(lines[0]?.level, 40, 'a warning')
  t.match(lines[0]?.msg, /could not be built/)
})
