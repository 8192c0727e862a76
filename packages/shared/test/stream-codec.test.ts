import t from 'tap'
import { decodeEntry, decodeEventLine, decodeEventLines, encodeEventJson, encodeEventLines, normalizeNative, type EventInput } from '../src/index.ts'

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

t.test('version 2 entries: compressed lines, the accepted ones named, one session and user for all or one per event', async (t) => {
  const lines = ['a', 'b', 'c'].map((id) => encode({ eventId: id, type: 'pageview', anonymousId: 'v', page: `/${id} é 😀`, metadata: { n: id } }).line)
  const z = encodeEventLines(Buffer.from(lines.join('\n'))).toString('latin1')
  t.ok(z.length < lines.join('\n').length, 'smaller than the lines')
  t.same(decodeEventLines(z), { lines, bytes: Buffer.byteLength(lines.join('\n')) }, 'the lines, whatever characters they hold, and their size')
  const head = ['v', '2', 'k', 'ev', 't', 'tenant', 'r', '5', 'z', z]
  const ids = (fields: string[]) => {
    const entry = decodeEntry(fields)
    return entry.kind === 'ev' ? entry.events.map((e) => [e.eventId, e.sessionId, e.userKey, e.page]) : []
  }
  t.same(ids([...head, 's', 's1', 'u', 'u1']), [['a', 's1', 'u1', '/a é 😀'], ['b', 's1', 'u1', '/b é 😀'], ['c', 's1', 'u1', '/c é 😀']], 'one session and user: all events have them')
  t.match(decodeEntry([...head, 's', 's1', 'u', 'u1', 'a', '1']), { unpackedBytes: Buffer.byteLength(lines.join('\n')) }, 'what the lines unpacked to, for the worker\'s batch bound, all of them even when one is kept')
  t.same(ids([...head, 's', 's1\ns2', 'u', 'u1', 'a', '0,2']), [['a', 's1', 'u1', '/a é 😀'], ['c', 's2', 'u1', '/c é 😀']], 'only the accepted lines, a session each')
  t.throws(() => decodeEntry([...head, 's', 's1\ns2', 'u', 'u1']), { message: /differ in count/ }, 'two sessions for three events')
  for (const a of ['', '3', '1,0', '0,0', 'x', '-1']) t.throws(() => decodeEntry([...head, 's', 's', 'u', 'u', 'a', a]), { message: /do not fit 3 lines/ }, `accepted lines ${JSON.stringify(a)}`)
  t.throws(() => decodeEntry(['v', '2', 'k', 'ev', 't', 'tenant', 'r', '5', 'z', Buffer.from('not deflate at all').toString('base64'), 's', 's', 'u', 'u']), { message: /do not decompress/ }, 'lines that are not compressed')
  t.throws(() => decodeEntry(['v', '3', 'k', 'ev', 't', 'tenant', 'r', '5', 'z', z, 's', 's', 'u', 'u']), { message: /unknown codec version "3"/ })
})

t.test('version 1 entries, as ingest wrote them before version 2, still read', async (t) => {
  const lines = ['a', 'b'].map((id) => encode({ eventId: id, type: 'action', userId: 'u', action: 'go' }).line)
  const entry = decodeEntry(['v', '1', 'k', 'ev', 't', 'tenant', 'r', '5', 'e', lines.join('\n'), 's', 's1\ns1', 'u', 'u:1\nu:1'])
  t.same(entry.kind === 'ev' && entry.events.map((e) => [e.eventId, e.sessionId, e.userKey, e.action]), [['a', 's1', 'u:1', 'go'], ['b', 's1', 'u:1', 'go']])
  t.match(entry, { unpackedBytes: 0 }, 'nothing unpacked')
  t.throws(() => decodeEntry(['v', '1', 'k', 'ev', 't', 'tenant', 'r', '5', 'e', lines.join('\n'), 's', 's1', 'u', 'u:1']), { message: /differ in count/ }, 'version 1 has a session per event')
})
