/**
 * Text appended straight into a growing Buffer as UTF-8: how a batch's COPY data is built.
 *
 * Built as one string instead (a template per row, joined), the ~1 MB of a 5,000-row batch
 * cost ~1.8 µs per row to flatten on the worker's one thread, and postgres.js then encoded
 * it to bytes once more. BENCHMARKS.md (Worker) has the figures.
 */
export class Utf8Builder {
  private buffer: Buffer
  private used = 0

  constructor(initialBytes: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(1024, initialBytes))
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used
  }

  append(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit (a surrogate pair's 4 bytes stand for 2
    // units; a lone surrogate becomes U+FFFD, 3 bytes), so the exact count is only needed
    // when the room left is below that bound.
    if (this.buffer.length - this.used < text.length * 3) this.reserve(Buffer.byteLength(text))
    this.used += this.buffer.write(text, this.used)
  }

  /** The bytes written, without a copy: valid until the next append. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used)
  }

  private reserve(bytes: number): void {
    if (this.buffer.length - this.used >= bytes) return
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + bytes))
    this.buffer.copy(next, 0, 0, this.used)
    this.buffer = next
  }
}
