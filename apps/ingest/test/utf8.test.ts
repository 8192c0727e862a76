import t from 'tap'
import { utf8Bytes } from '../src/event-log/utf8.ts'

// The bytes of a request's events go to Redis as utf8Bytes writes them; they must be exactly
// Buffer.from's, whatever the string holds and however long it is.

const cases: Record<string, string> = {
  'empty': '',
  'ASCII': '{"i":"e-1","y":"pageview","o":1764000000000}',
  'two-byte (one em dash)': '{"m":{"title":"Item page — Example Shop"}}\n{"i":"e-2"}',
  'emoji (surrogate pairs)': 'cart 🛒🛒 done 👍🏽',
  'a lone high surrogate, at the end': 'abc\ud83d',
  'a lone low surrogate, in the middle': 'a\ude00b',
  'just fits the first scratch space (21,845 three-byte units)': '€'.repeat(21_845),
  'just over it': '€'.repeat(21_846),
  'longer than the first scratch space': '€'.repeat(40_000) + 'x',
  'the longest that goes through scratch space, all three-byte': '€'.repeat(1 << 20),
  'the longest, all lone surrogates': '\ud800'.repeat(1 << 20),
  'longer: Buffer.from itself': 'é'.repeat((1 << 20) + 1),
}

for (const [name, text] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const bytes = utf8Bytes(text)
    t.ok(bytes.equals(Buffer.from(text)), 'the same bytes as Buffer.from')
    t.equal(bytes.length, Buffer.byteLength(text), 'exactly as long as the encoding')
  })
}

t.test('a later call does not change the bytes an earlier call returned', async (t) => {
  const first = utf8Bytes('first request — ' + 'a'.repeat(5_000))
  const kept = Buffer.from(first)
  utf8Bytes('second request — ' + 'b'.repeat(5_000))
  utf8Bytes('€'.repeat(100_000)) // grows the scratch space
  t.ok(first.equals(kept))
})
