import t from 'tap'
import { decodeEntry, decodeEventLine, encodeEventJson, normalizeNative, type EventInput } from '../src/index.ts'

const encode = (input: EventInput) => {
  const n = normalizeNative(input, Date.UTC(2026, 10, 26), undefined)
  if (!n.ok) throw new Error(n.message)
  return { event: n.event, line: encodeEventJson(n.event) }
}

t.test('the metadata comes out as the text ingest encoded, whatever its strings hold', async (t) => {
  const awkward = [
    { eventId: 'a1', type: 'pageview', userId: 'u', page: '/x?q=,"m":{"o":1}', metadata: { o: 1, m: { o: 2 }, s: ',"o":3,"m":' } },
    { eventId: 'a2', type: 'action', anonymousId: 'v', action: 'say "hi"', metadata: { text: 'tab\tnew\nline \\ back "quote" \u2028 é 😀', nested: [{ a: null }, true, 1.5e-7] } },
    { eventId: 'a3\\"m\\":', type: 'action', userId: 'u', action: 'x', metadata: {} },
  ] satisfies EventInput[]
  for (const input of awkward) {
    const { event, line } = encode(input)
    const decoded = decodeEventLine(line, 's1', 'u:1')
    t.ok(decoded.metadataJson, input.eventId)
    t.same(JSON.parse(decoded.metadataJson!), event.metadata, `${input.eventId}: metadata intact`)
    const { metadata: _, ...rest } = event
    t.same(decoded, { ...rest, sessionId: 's1', userKey: 'u:1', metadataJson: decoded.metadataJson }, `${input.eventId}: every other field intact`)
  }
})

t.test('an event without metadata has none', async (t) => {
  const { line } = encode({ eventId: 'b1', type: 'pageview', userId: 'u', page: '/' })
  const decoded = decodeEventLine(line, 's', 'u')
  t.equal(decoded.metadataJson, undefined)
  t.equal(decoded.page, '/')
})

t.test('a line whose keys are not in the encoder’s order is refused, not misread', async (t) => {
  const misordered = { message: /encodeEventJson order/ }
  t.throws(() => decodeEventLine('{"i":"x","y":"action","o":1,"m":{"a":1}}', 's', 'u'), misordered, 'metadata after occurredAt')
  t.throws(() => decodeEventLine('{"i":"x","y":"action","m":[1],"o":1}', 's', 'u'), misordered, 'metadata that is not an object')
  t.throws(() => decodeEntry(['v', '1', 'k', 'ev', 't', 'tenant', 'r', '1', 'e', '{"i":"x","m":{"a":1},"o":', 's', 's', 'u', 'u']), 'a truncated line')
})

t.test('every field reads back as JSON.parse reads it, whether or not the strings hold escapes', async (t) => {
  const strings = ['plain', '', 'é 😀 日本', 'say "hi"', 'back\\slash', 'tab\there', 'ctl\u0001', '\u2028', ',"o":1}', ',"m":{}', '"', '\\']
  let checked = 0
  for (let i = 0; i < 600; i++) {
    const pick = (k: number) => strings[(i * 7 + k * 13) % strings.length]!
    const event = {
      eventId: `e${i}-${pick(1)}`,
      type: i % 2 ? 'pageview' : pick(2),
      ...(i % 3 === 0 ? { userId: pick(3) } : {}),
      ...(i % 4 === 0 ? { anonymousId: pick(4) } : {}),
      ...(i % 5 < 3 ? { page: pick(5) } : {}),
      ...(i % 6 < 2 ? { action: pick(6) } : {}),
      ...(i % 7 < 4 ? { metadata: { s: pick(7), n: i } } : {}),
      occurredAt: 946_684_800_000 + i * 1_234_567,
    }
    const line = encodeEventJson(event as never)
    const { metadata, ...rest } = event
    const expected = { ...rest, sessionId: 's', userKey: 'u', ...(metadata ? { metadataJson: JSON.stringify(metadata) } : {}) }
    if (!t.strictSame(decodeEventLine(line, 's', 'u'), expected, line)) break
    checked++
  }
  t.equal(checked, 600)
})

t.test('lines in another shape than the encoder writes are still read as JSON (unknown keys, other numbers)', async (t) => {
  t.same(decodeEventLine('{"i":"x","y":"action","zz":"q","a":"go","o":1764000000000}', 's', 'u'), { eventId: 'x', type: 'action', action: 'go', occurredAt: 1764000000000, sessionId: 's', userKey: 'u' }, 'an unknown key is ignored')
  t.same(decodeEventLine('{"i":"x","y":"action","a":"go","p":"/","o":1.5e3}', 's', 'u'), { eventId: 'x', type: 'action', action: 'go', page: '/', occurredAt: 1500, sessionId: 's', userKey: 'u' }, 'keys out of order, a number with an exponent')
  t.throws(() => decodeEventLine('{"i":"x","y":"action","o":12}trailing', 's', 'u'), 'text after the object')
  t.throws(() => decodeEventLine('{"i":"x","y":"action","o":}', 's', 'u'), 'no occurredAt')
  t.throws(() => decodeEventLine('{"i":"x","y":"action","o":012}', 's', 'u'), 'a leading zero, which JSON refuses')
  t.equal(decodeEventLine('{"i":"x","y":"action","o":0}', 's', 'u').occurredAt, 0, 'zero itself')
})
