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
