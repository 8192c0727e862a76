/** Thrown by `Slots.run` when every slot is taken and the line is full. */
export class SlotsFullError extends Error {
  constructor(what: string) {
    super(`${what}: every slot is taken and the line is full`)
    this.name = 'SlotsFullError'
  }
}

/**
 * At most `maxConcurrent` calls at once, `maxQueued` more waiting in line, the rest refused
 * at once (SlotsFullError): so one kind of work (key lookups, dashboard reads) cannot take
 * every connection of a pool that other work needs too.
 */
export class Slots {
  private running = 0
  private readonly queue: Array<() => void> = []

  constructor(
    private readonly what: string,
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}

  /** Whether every slot is taken (a call now would wait or be refused). */
  get busy(): boolean {
    return this.running >= this.maxConcurrent
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxConcurrent) {
      if (this.queue.length >= this.maxQueued) throw new SlotsFullError(this.what)
      await new Promise<void>((resolve) => this.queue.push(resolve))
    } else {
      this.running++
    }
    try {
      return await work()
    } finally {
      // The slot passes to the next in line, or is freed.
      const next = this.queue.shift()
      if (next) next()
      else this.running--
    }
  }
}
