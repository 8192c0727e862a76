import t from 'tap'
import { Utf8Builder } from '../src/persist/utf8-builder.ts'

t.test('appended text comes out as the UTF-8 of the whole, however often the buffer grows', async (t) => {
  const pieces = [
    'plain ascii\t\\N\n',
    'é à ü ß — “quotes”\n', // two and three bytes
    '😀 🇫🇷 𝄞\n', // surrogate pairs: four bytes for two units
    'lone \ud800 and \udfff surrogates\n', // each becomes U+FFFD, three bytes for one unit
    '',
    'x'.repeat(5_000) + '\n',
    '€'.repeat(3_000) + '\n', // three bytes per unit: the worst case of the bound
  ]
  for (const initial of [0, 1, 1024, 4096, 1 << 20]) {
    const builder = new Utf8Builder(initial)
    const ends: number[] = []
    for (let round = 0; round < 20; round++) {
      for (const p of pieces) {
        builder.append(p)
        ends.push(builder.length)
      }
    }
    const expected = Buffer.from(Array.from({ length: 20 }, () => pieces.join('')).join(''))
    t.ok(builder.bytes().equals(expected), `initial size ${initial}: ${expected.length} bytes`)
    t.equal(ends.at(-1), expected.length)
    // Each piece's end is where its bytes end in the whole (what the merge path cuts by).
    let at = 0
    const wrongEnds = ends.filter((end, i) => {
      at += Buffer.byteLength(pieces[i % pieces.length]!)
      return end !== at
    })
    t.same(wrongEnds, [], 'every length after an append is the bytes so far')
  }
})

t.test('text needing up to 3 bytes per unit is never cut short, whatever room is left', async (t) => {
  // 1,024 bytes is the smallest buffer; ASCII filler leaves `room` bytes of it free.
  const wrong: string[] = []
  for (const piece of ['€', '€€€', '€'.repeat(250), '\ud800'.repeat(40), '😀'.repeat(30), 'é'.repeat(100)]) {
    for (let room = 0; room <= Buffer.byteLength(piece) + 2; room++) {
      const builder = new Utf8Builder(0)
      builder.append('x'.repeat(1024 - room))
      builder.append(piece)
      if (!builder.bytes().equals(Buffer.from('x'.repeat(1024 - room) + piece))) wrong.push(`${piece.slice(0, 3)}… with ${room} bytes free`)
    }
  }
  t.same(wrong, [])
})
