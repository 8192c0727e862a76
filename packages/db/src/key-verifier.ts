import { timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Database } from './client.ts'
import { Slots, SlotsFullError } from '@tributary/shared'
import { displayPrefix, hashKey, kindOfKey } from './api-keys.ts'
import { apiKeys, tenants, type ApiKeyKind } from './schema/index.ts'

export type KeyCheck =
  | { ok: true; tenantId: string; keyId: string; kind: ApiKeyKind; timezone: string }
  /** missing, unknown and revoked all answer 401 with the same body; wrong_kind answers 403. */
  | { ok: false; reason: 'missing' | 'unknown' | 'revoked' | 'wrong_kind' }

interface StoredKey {
  keyId: string
  tenantId: string
  kind: ApiKeyKind
  timezone: string
  revoked: boolean
}

interface CacheEntry {
  /** undefined: no key with this hash exists. */
  key: StoredKey | undefined
  expiresAt: number
}

export interface KeyVerifierOptions {
  /** How long a lookup (found or not) is trusted; a revocation elsewhere takes effect within it. */
  ttlMs?: number
  /**
   * Most keys kept, found and not found each; the oldest lookups are dropped first, so random
   * keys cannot grow memory, and kept apart, so a stream of keys that do not exist cannot push
   * out the ones that do.
   */
  maxEntries?: number
  /** Lookups in Postgres at once; more wait in line (at most maxQueuedLookups), so a stream of unknown keys cannot take the pool that reads share. */
  maxConcurrentLookups?: number
  maxQueuedLookups?: number
  now?: () => number
}

const MAX_KEY_LENGTH = 128
/** While the lookups are all busy, an answer is used for up to this many cache lifetimes. */
const STALE_TTLS = 10

/** The key store (Postgres) could not be asked and the key was not seen recently. */
export class KeyStoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the API key store is unreachable', { cause })
    this.name = 'KeyStoreUnavailableError'
  }
}

/** Too many keys to look up at once (a stream of unknown keys, say) and this one was not seen recently. */
export class KeyLookupsBusyError extends Error {
  constructor() {
    super('too many API keys to look up at once')
    this.name = 'KeyLookupsBusyError'
  }
}

/**
 * Verifies API keys against `api_keys`: the row is found by its display prefix and the
 * SHA-256 of the presented key is compared in constant time. Results are cached briefly
 * so the ingest hot path does not touch Postgres, and concurrent lookups of one key share
 * a single query.
 */
export function createKeyVerifier(db: Database, options: KeyVerifierOptions = {}) {
  const ttlMs = options.ttlMs ?? 5_000
  const maxEntries = options.maxEntries ?? 10_000
  const maxConcurrent = options.maxConcurrentLookups ?? 4
  const maxQueued = options.maxQueuedLookups ?? 100
  const now = options.now ?? Date.now
  /** Keys that exist (revoked ones too), and keys that do not: two caches, see maxEntries. */
  const known = new Map<string, CacheEntry>()
  const unknown = new Map<string, CacheEntry>()
  const inFlight = new Map<string, Promise<StoredKey | undefined>>()
  const slots = new Slots('key lookups', maxConcurrent, maxQueued)

  /** Runs `query` when a lookup slot is free; refuses at once when the line is full. */
  async function inSlot<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await slots.run(query)
    } catch (err) {
      throw err instanceof SlotsFullError ? new KeyLookupsBusyError() : err
    }
  }

  async function lookup(key: string, hash: string): Promise<StoredKey | undefined> {
    const rows = await inSlot(() => db
      .select({ keyId: apiKeys.id, tenantId: apiKeys.tenantId, kind: apiKeys.kind, hash: apiKeys.hash, revokedAt: apiKeys.revokedAt, timezone: tenants.timezone })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(eq(apiKeys.prefix, displayPrefix(key))))
    const presented = Buffer.from(hash, 'hex')
    let match: StoredKey | undefined
    for (const row of rows) {
      // Every candidate is compared, so the time taken does not reveal which one matched.
      if (timingSafeEqual(presented, Buffer.from(row.hash, 'hex'))) {
        match = { keyId: row.keyId, tenantId: row.tenantId, kind: row.kind, timezone: row.timezone, revoked: row.revokedAt !== null }
      }
    }
    return match
  }

  function remember(hash: string, key: StoredKey | undefined) {
    known.delete(hash)
    unknown.delete(hash)
    const cache = key ? known : unknown
    cache.set(hash, { key, expiresAt: now() + ttlMs })
    while (cache.size > maxEntries) {
      const oldest = cache.keys().next().value
      if (oldest === undefined) break
      cache.delete(oldest)
    }
  }

  /**
   * While Postgres is unreachable, or the lookups are all busy, an expired answer is still
   * better than none: ingestion goes on for the keys seen recently (events are buffered in
   * Redis anyway), and only a key never seen gets KeyStoreUnavailableError or
   * KeyLookupsBusyError (a 503).
   */
  async function find(key: string): Promise<StoredKey | undefined> {
    const hash = hashKey(key)
    const cached = known.get(hash) ?? unknown.get(hash)
    if (cached && cached.expiresAt > now()) return cached.key
    // Every slot busy (a stream of made-up keys, or Postgres slow to answer): a key seen
    // lately keeps its answer rather than waiting behind them, for up to STALE_TTLS
    // lifetimes, so a revocation whose message was missed still takes effect.
    if (cached && slots.busy && cached.expiresAt + (STALE_TTLS - 1) * ttlMs > now()) return cached.key
    let pending = inFlight.get(hash)
    if (!pending) {
      pending = lookup(key, hash).finally(() => inFlight.delete(hash))
      inFlight.set(hash, pending)
    }
    try {
      const found = await pending
      remember(hash, found)
      return found
    } catch (err) {
      if (cached) return cached.key
      throw err instanceof KeyLookupsBusyError ? err : new KeyStoreUnavailableError(err)
    }
  }

  return {
    async verify(key: string | undefined, expected: ApiKeyKind): Promise<KeyCheck> {
      if (!key) return { ok: false, reason: 'missing' }
      if (key.length > MAX_KEY_LENGTH || kindOfKey(key) === undefined) return { ok: false, reason: 'unknown' }
      const stored = await find(key)
      if (!stored) return { ok: false, reason: 'unknown' }
      if (stored.revoked) return { ok: false, reason: 'revoked' }
      if (stored.kind !== expected) return { ok: false, reason: 'wrong_kind' }
      return { ok: true, tenantId: stored.tenantId, keyId: stored.keyId, kind: stored.kind, timezone: stored.timezone }
    },
    /** Forget every cached lookup, e.g. after revoking a key in this process. */
    clear() {
      known.clear()
      unknown.clear()
    },
    get size() {
      return known.size + unknown.size
    },
  }
}

export type KeyVerifier = ReturnType<typeof createKeyVerifier>
