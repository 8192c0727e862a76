import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Check = Type.Object({ ok: Type.Boolean(), latencyMs: Type.Number(), error: Type.Optional(Type.String()) })
const Readiness = Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) })

async function timed(probe: () => Promise<unknown>) {
  const started = performance.now()
  try {
    await probe()
    return { ok: true, latencyMs: Math.round(performance.now() - started) }
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: (err as Error).message }
  }
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', { schema: { response: { 200: Readiness, 503: Readiness } } }, async (_request, reply) => {
    const [redis, postgres] = await Promise.all([timed(() => app.redis.ping()), timed(() => app.sql`select 1`)])
    const ready = redis.ok && postgres.ok
    return reply.code(ready ? 200 : 503).send({ ready, checks: { redis, postgres } })
  })
}

export default health
