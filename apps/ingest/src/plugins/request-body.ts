import { createGunzip, createInflate } from 'node:zlib'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import secureJson from 'secure-json-parse'
import { ApiError } from '../errors.ts'

/**
 * JSON with `__proto__` and `constructor.prototype` refused (like Fastify's own parser),
 * but telling that case apart from plain bad JSON, which Fastify's parser does not.
 */
function parseJson(_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) {
  if (body.length === 0) return done(new ApiError(400, 'empty_body', 'the body is empty; send a JSON object'))
  try {
    done(null, secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }))
  } catch (err) {
    if (/prototype/i.test((err as Error).message)) {
      return done(new ApiError(400, 'forbidden_property', 'the body holds a "__proto__" or "constructor.prototype" key, which is never accepted'))
    }
    done(new ApiError(400, 'invalid_json', `the body is not valid JSON: ${(err as Error).message}`))
  }
}

/**
 * Compressed request bodies (Content-Encoding: gzip or deflate). The decompressed stream is
 * what Fastify reads and limits, so `bodyLimit` applies to the decoded size: a small gzip
 * bomb is cut off at the limit with a 413, not inflated in memory.
 */
export function acceptCompressedBodies(app: FastifyInstance) {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase()
    if (!encoding || encoding === 'identity') return payload
    const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : undefined
    if (!decoder) throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported; use gzip, deflate or none`)
    // Fastify compares this with Content-Length (which counts the compressed bytes).
    Object.defineProperty(decoder, 'receivedEncodedLength', { get: () => decoder.bytesWritten })
    payload.on('error', (err) => decoder.destroy(err))
    payload.pipe(decoder)
    return decoder
  })
}

/** The native API is JSON only: Fastify's default text/plain parser would let strings through. */
export function acceptJsonOnly(app: FastifyInstance) {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson)
}

/**
 * Segment SDKs do not all say application/json: analytics.js posts text/plain (a "simple"
 * CORS request), some send no content type at all. On Segment routes every body is JSON.
 */
export function parseAnyContentTypeAsJson(app: FastifyInstance) {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson)
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, parseJson)
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJson)
}
