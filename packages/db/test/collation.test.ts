import t from 'tap'
import { emptyDatabase } from '@tributary/servers'
import { collationAdvice, databaseCollation } from '../src/collation.ts'

// `pnpm db:migrate` warns when the database compares text under a language collation,
// which makes every key insert slower (see collation.ts).

t.test('the test cluster is C, as the local stack is: no advice', async (t) => {
  const { url } = await emptyDatabase(t)
  t.equal(await databaseCollation(url), 'C')
  t.equal(collationAdvice('C'), undefined)
  t.equal(collationAdvice('POSIX'), undefined)
})

t.test('a database made with another collation gets advice that names it and says where to read on', async (t) => {
  const { url, sql } = await emptyDatabase(t)
  const name = `${new URL(url).pathname.slice(1)}_utf8`
  try {
    await sql.unsafe(`create database ${name} template template0 encoding 'UTF8' locale_provider libc lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8'`)
  } catch (err) {
    // C.UTF-8 ships with Debian's glibc (CI); a server without it (macOS) cannot make one.
    if (/locale/i.test(String(err))) return t.plan(0, `this Postgres server has no C.UTF-8 locale: ${String(err)}`)
    throw err
  }
  t.teardown(() => sql.unsafe(`drop database if exists ${name} with (force)`))
  const other = new URL(url)
  other.pathname = `/${name}`
  const collation = await databaseCollation(other.href)
  t.equal(collation, 'C.UTF-8')
  const advice = collationAdvice(collation)
  t.match(advice, /collation is C\.UTF-8, not C/)
  t.match(advice, /infra\/README\.md/)
})

t.test('collationAdvice for the usual cloud default and for an ICU database', async (t) => {
  t.match(collationAdvice('en_US.UTF-8'), /en_US\.UTF-8, not C/)
  t.match(collationAdvice('ICU und'), /ICU und, not C/)
})
