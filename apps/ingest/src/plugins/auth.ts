import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { KeyLookupsBusyError, KeyStoreUnavailableError } from '@tributary/db'
import { ApiError, unauthorized, wrongKeyKind } from '../errors.ts'

export interface Principal {
  tenantId: string
  keyId: string
  timezone: string
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** onRequest hook: the request needs a key of this kind in its headers. */
    requireKey(kind: 'write' | 'read', options?: { allowBodyWriteKey?: boolean }): (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preValidation hook for Segment routes: falls back to `writeKey` in the body. */
    requireBodyWriteKey(request: FastifyRequest): Promise<void>
  }
}

/**
 * Bearer, or HTTP Basic with the key as user name and an empty password (what Segment
 * SDKs send). Anything else is no key at all.
 */
export function keyFromHeaders(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (!header) return undefined
  const space = header.indexOf(' ')
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  if (scheme === 'bearer') return value || undefined
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return (colon === -1 ? decoded : decoded.slice(0, colon)) || undefined
  }
  return undefined
}

/** The tenant comes from the key and from nowhere else. */
export default fp(
  async (app) => {
    app.decorateRequest('principal', null)

    async function verify(request: FastifyRequest, key: string | undefined, kind: 'write' | 'read') {
      let check
      try {
        check = await app.keys.verify(key, kind)
      } catch (err) {
        if (err instanceof KeyStoreUnavailableError) throw new ApiError(503, 'unavailable', 'the key store is unreachable and this key was not seen recently; retry later', { retryAfterSeconds: 5 })
        if (err instanceof KeyLookupsBusyError) throw new ApiError(503, 'unavailable', 'too many API keys are being checked at once and this one was not seen recently; retry later', { retryAfterSeconds: 1 })
        throw err
      }
      if (check.ok) {
        request.principal = { tenantId: check.tenantId, keyId: check.keyId, timezone: check.timezone }
        return
      }
      throw check.reason === 'wrong_kind' ? wrongKeyKind(kind) : unauthorized()
    }

    app.decorate('requireKey', (kind: 'write' | 'read', options: { allowBodyWriteKey?: boolean } = {}) => async (request: FastifyRequest) => {
      const key = keyFromHeaders(request)
      if (key === undefined && options.allowBodyWriteKey) return // decided in preValidation
      await verify(request, key, kind)
    })

    app.decorate('requireBodyWriteKey', async (request: FastifyRequest) => {
      if (request.principal) return
      const body = request.body as { writeKey?: unknown } | undefined
      await verify(request, typeof body?.writeKey === 'string' ? body.writeKey : undefined, 'write')
    })
  },
  { name: 'auth', dependencies: ['database'] },
)
