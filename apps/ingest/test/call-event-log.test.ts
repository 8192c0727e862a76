import t from 'tap'
import { ApiError } from '../src/errors.ts'
import { callEventLog } from '../src/ingest/accept.ts'

// Every way an event-log call can fail reaches the client as the same retryable 503, and a
// refusal the event log already phrased (an ApiError) reaches it unchanged.

t.test('a call that throws before it returns a promise is a 503 unavailable', async (t) => {
  const err = await callEventLog(() => {
    throw new Error('Connection is closed.')
  }).catch((e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.match(err, { statusCode: 503, code: 'unavailable' })
})

t.test('a call whose promise rejects is a 503 unavailable', async (t) => {
  const err = await callEventLog(() => Promise.reject(new Error('OOM command not allowed'))).catch((e: unknown) => e)
  t.match(err, { statusCode: 503, code: 'unavailable' })
})

t.test('an ApiError passes through as it is', async (t) => {
  const refusal = new ApiError(429, 'rate_limited', 'slow down')
  t.equal(await callEventLog(() => Promise.reject(refusal)).catch((e: unknown) => e), refusal)
  t.equal(await callEventLog(() => { throw refusal }).catch((e: unknown) => e), refusal)
})

t.test('a result passes through', async (t) => {
  t.same(await callEventLog(() => Promise.resolve({ outcome: 'ok' })), { outcome: 'ok' })
})
