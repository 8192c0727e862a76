import { randomFillSync } from 'node:crypto'

let lastMs = 0
let sequence = 0

/** Randomness drawn from the CSPRNG 4 KiB at a time: one system call per 200+ ids instead of two per id. */
const pool = Buffer.alloc(4096)
let poolOffset = pool.length

function random(bytes: number): Buffer {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const out = pool.subarray(poolOffset, poolOffset + bytes)
  poolOffset += bytes
  return out
}

/** `bytes` random bytes from the CSPRNG, as hex. */
export function randomHex(bytes: number): string {
  return random(bytes).toString('hex')
}

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits. Ids made in the same
 * millisecond by this process stay ordered through a 12-bit counter in `rand_a`.
 */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    sequence = (sequence + 1) & 0xfff
    if (sequence === 0) lastMs += 1
    now = lastMs
  } else {
    lastMs = now
    sequence = random(2).readUInt16BE(0) & 0x7ff
  }
  const bytes = Buffer.from(random(16))
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = 0x70 | (sequence >> 8)
  bytes[7] = sequence & 0xff
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const UUIDV7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/**
 * The Unix milliseconds a UUIDv7 was made at (its first 48 bits), or 0 for any other id.
 * Made by the sender's clock, so only a hint: append.lua uses it to narrow where it looks
 * for an event id, never to decide whether the id is new.
 */
export function uuidv7Time(id: string): number {
  if (!UUIDV7_PATTERN.test(id)) return 0
  return parseInt(id.slice(0, 8), 16) * 65_536 + parseInt(id.slice(9, 13), 16)
}
