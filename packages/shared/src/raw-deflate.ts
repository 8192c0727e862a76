import { constants, createDeflateRaw, deflateRawSync, type DeflateRaw } from 'node:zlib'

/** What a zlib stream object holds inside Node (lib/zlib.js, unchanged from Node 12 to 24). */
interface ZlibInternals {
  _handle?: {
    writeSync?(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number): void
    reset?(): void
  } | null
  /** [output bytes left, input bytes left] after each write. */
  _writeState?: Uint32Array
}

/**
 * Raw deflate through one zlib stream that stays open and is reset between inputs.
 *
 * Why not deflateRawSync: every call of it builds a new zlib stream (~256 KB of deflate
 * state at the default memory level, reported to V8 as external memory) and closes it
 * again. For a bench request's 10 KB of event lines that setup costs as much as the
 * compression itself: 20–37 µs a call against 11–12 µs reusing one stream, the same bytes
 * out (BENCHMARKS.md). Node has no public API to reuse a stream
 * synchronously, so this drives the stream's native handle the way Node's own sync path
 * does; when the handle is not what it expects (another Node), or a write does not finish
 * in one go, it falls back to deflateRawSync, so the result never depends on the internals.
 */
export class RawDeflater {
  private engine: (DeflateRaw & ZlibInternals) | undefined
  private output = Buffer.allocUnsafe(64 * 1024)
  /** False once the internals turned out unusable: every call then takes deflateRawSync. */
  private reusable = true

  /** `createStream` is for the tests, which hand it streams without the internals. */
  constructor(
    private readonly level: number,
    private readonly createStream: () => DeflateRaw = () => createDeflateRaw({ level }),
  ) {}

  /**
   * `input` compressed. The result is a view of this deflater's own buffer: read it (or copy
   * it) before the next call.
   */
  deflate(input: Uint8Array): Buffer {
    const engine = this.reusable ? this.open() : undefined
    const handle = engine?._handle
    if (!engine || !handle) {
      this.drop()
      return deflateRawSync(input, { level: this.level })
    }
    // Deflate never grows its input by more than 5 bytes per 16 KB block and a few more.
    const bound = input.byteLength + (input.byteLength >> 10) + 64
    if (this.output.length < bound) this.output = Buffer.allocUnsafe(bound)
    handle.writeSync!(constants.Z_FINISH, input, 0, input.byteLength, this.output, 0, this.output.length)
    const [outputLeft, inputLeft] = engine._writeState!
    if (engine.destroyed || inputLeft !== 0 || outputLeft === 0) {
      // Not finished in one write (a zlib error destroys the stream): never seen, and not
      // worth reasoning about; the one-shot call answers, a fresh stream serves the next.
      this.drop()
      return deflateRawSync(input, { level: this.level })
    }
    handle.reset!()
    return this.output.subarray(0, this.output.length - outputLeft!)
  }

  private open() {
    if (this.engine) return this.engine
    const engine = this.createStream() as DeflateRaw & ZlibInternals
    // A failed write destroys the stream and emits 'error' on a later tick; drop() has dealt with it by then.
    engine.on('error', () => {})
    const handle = engine._handle
    if (typeof handle?.writeSync !== 'function' || typeof handle.reset !== 'function' || !(engine._writeState instanceof Uint32Array)) {
      this.reusable = false
      engine.close()
      return undefined
    }
    this.engine = engine
    return engine
  }

  private drop() {
    this.engine?.close()
    this.engine = undefined
  }
}
