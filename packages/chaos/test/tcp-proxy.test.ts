import { createServer, connect, type Socket } from 'node:net'
import t from 'tap'
import { TcpProxy } from '../src/index.ts'

t.test('the proxy: frozen links hold bytes without error, thawed links deliver them in order, reset closes with RST', async (t) => {
  const echo = createServer((s) => s.on('error', () => {}).pipe(s))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  t.teardown(() => echo.close())
  const proxy = await new TcpProxy({ host: '127.0.0.1', port: (echo.address() as { port: number }).port }).start()
  t.teardown(() => proxy.close())
  const client: Socket = connect(proxy.port, '127.0.0.1')
  const received: string[] = []
  client.on('data', (d) => received.push(d.toString()))
  const closed = new Promise<string>((r) => client.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error')).on('close', () => r('close')))
  await new Promise((r) => client.once('connect', r))
  client.write('a')
  await new Promise((r) => setTimeout(r, 100))
  t.same(received.join(''), 'a', 'bytes flow while thawed')
  proxy.freeze()
  client.write('b')
  client.write('c')
  await new Promise((r) => setTimeout(r, 300))
  t.same(received.join(''), 'a', 'nothing moves while frozen')
  proxy.thaw()
  await new Promise((r) => setTimeout(r, 100))
  t.same(received.join(''), 'abc', 'held bytes delivered in order after the thaw')
  proxy.reset()
  t.equal(await closed, 'ECONNRESET', 'reset is seen by the client as a connection reset')
})
