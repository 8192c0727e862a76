import t from 'tap'
import { ensureBinary, findBinary, MissingBinaryError, POSTGRES, REDIS_SERVER } from '../src/index.ts'

t.test('finds the real server binaries, Postgres off PATH included', async (t) => {
  t.match(findBinary(REDIS_SERVER), /redis-server$/)
  t.match(findBinary(POSTGRES), /postgres$/)
})

t.test('a missing binary stops with one line naming the install command', async (t) => {
  const spec = { binary: 'tributary-no-such-server', debianPackage: 'tributary-no-such-package', brewFormula: 'nothing' }
  t.equal(findBinary(spec), undefined)
  const error = t.throws(() => ensureBinary(spec, { allowInstall: false })) as Error
  t.type(error, MissingBinaryError)
  t.match(error.message, /^tributary-no-such-server is not installed; install it with: .*apt-get install -y tributary-no-such-package/)
  t.notMatch(error.message, /\n/, 'one line')
})
