import { createGunzip, createInflate } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.ts'

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
    if (!decoder) throw new ApiError(415, 'unsupported_encoding', `Content-Encoding "${encoding}" is not supported; use gzip or none`)
    // Fastify compares this with Content-Length (which counts the compressed bytes).
    Object.defineProperty(decoder, 'receivedEncodedLength', { get: () => decoder.bytesWritten })
    payload.on('error', (err) => decoder.destroy(err))
    payload.pipe(decoder)
    return decoder
  })
}

/**
 * Segment SDKs do not all say application/json: analytics.js posts text/plain (a "simple"
 * CORS request), some send no content type at all. On Segment routes every body is JSON.
 */
export function parseAnyContentTypeAsJson(app: FastifyInstance) {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJson)
}
