import { randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import { deflateRawSync, inflateRawSync, type DeflateRaw } from 'node:zlib'
import t from 'tap'
import { RawDeflater } from '../src/raw-deflate.ts'

const lines = (n: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ i: `evt-${i}`, y: 'pageview', ai: `visitor-${i % 7}`, p: `/products/${i}`, m: { title: 'Item — Shop' }, o: 1_764_000_000_000 + i })).join('\n'))

t.test('one reused stream gives what a fresh stream per call gives, call after call', async (t) => {
  const deflater = new RawDeflater(1)
  const inputs = [lines(50), Buffer.alloc(0), lines(1), Buffer.from('x'), lines(2_000), randomBytes(300_000), lines(50)]
  for (const [i, input] of inputs.entries()) {
    const packed = Buffer.from(deflater.deflate(input))
    t.same(packed, deflateRawSync(input, { level: 1 }), `input ${i} (${input.length} bytes): the same bytes as deflateRawSync`)
    t.same(inflateRawSync(packed), input, `input ${i} unpacks to itself`)
  }
})

t.test('the output buffer grows for input that does not compress, and stays valid until the next call', async (t) => {
  const deflater = new RawDeflater(1)
  const noise = randomBytes(1 << 20)
  const packed = deflater.deflate(noise)
  t.ok(packed.length > noise.length, 'stored blocks: a little larger than the input')
  t.same(inflateRawSync(packed), noise)
  const copy = Buffer.from(packed)
  deflater.deflate(lines(10))
  t.notSame(Buffer.from(packed), copy, 'the next call reuses the buffer: a caller must copy first')
})

t.test('without the stream internals it expects, it compresses with deflateRawSync', async (t) => {
  // A stream-like object with no native handle, as another Node might give.
  let created = 0
  const deflater = new RawDeflater(1, () => {
    created++
    return Object.assign(new PassThrough(), { close() {} }) as unknown as DeflateRaw
  })
  for (const input of [lines(50), lines(3)]) t.same(inflateRawSync(deflater.deflate(input)), input)
  t.equal(created, 1, 'it looks once, then stops trying')
})
