import type { Redis } from 'ioredis'
import { cleanupAndSync, databaseErrorCode, LOCK_NOT_AVAILABLE, type Database, type SyncResult } from '@tributary/db'
import { CONSUMER_GROUP, allStreamKeys, decodeEntry, type DecodedEntry, type Logger } from '@tributary/shared'
import type { WorkerConfig } from './config.ts'
import { deadLetter } from './dead-letter.ts'
import { classify, errorCode, errorMessage } from './persist/errors.ts'
import { endStuckWriters } from './persist/stuck-writers.ts'
import { writeBatch } from './persist/write-batch.ts'
import { ensureGroups, readGroup, renewOwnClaims, type StreamEntry } from './streams.ts'
import { trimAndTidy } from './trim.ts'

/**
 * The persistence worker: one consumer of the group on every shard stream.
 *
 * Loop order, and why:
 *   1. Create the groups (id 0, MKSTREAM), so entries written before any worker existed are delivered.
 *   2. Re-read this consumer's own pending entries (id 0): what a previous run of the same
 *      name read but never acknowledged, e.g. killed between COMMIT and XACK.
 *   3. Read new entries ('>') into a batch bounded by events, bytes and time.
 *   4. Write the batch in one transaction; transient database errors are retried with
 *      backoff for as long as they last; permanent ones are isolated by bisecting the
 *      batch, and only the entries that fail alone go to the dead-letter stream.
 *   5. XACK only after COMMIT. Between batches, take over entries another consumer has left
 *      pending longer than CLAIM_IDLE_MS (XAUTOCLAIM).
 * A crash anywhere leaves entries pending, never acknowledged-but-unwritten; the unique
 * (tenant_id, event_id) key makes the redelivery harmless.
 */

export interface WorkerDeps {
  config: WorkerConfig
  /** Commands: XACK, XAUTOCLAIM, trimming, the dead-letter stream. */
  redis: Redis
  /** A connection of its own for the blocking XREADGROUP. */
  blocking: Redis
  db: Database
  log: Logger
  /** Called after each batch is written and acknowledged (metrics). */
  observeBatch?: (events: number, seconds: number) => void
}

/** How long stop() waits for a periodic sync in progress (see run()). */
export const SYNC_AT_SHUTDOWN_MS = 10_000

export interface WorkerStats {
  startedAt: number
  /** When a read from the streams last succeeded (empty or not; 0: none yet): what /readyz checks. */
  lastLoopAt: number
  batches: number
  entries: number
  eventsInserted: number
  deadLettered: number
  lostEntries: number
  claimed: number
  transientErrors: number
  /** Times the consumer group was found gone (Redis lost its data) and made again. */
  groupsRecreated: number
  /** Peers' transactions ended because they blocked a write while their worker was silent. */
  stuckWritersEnded: number
  /** Batches that held already-stored events, so were merged: only the new ones copied (see write-batch.ts). */
  mergedBatches: number
  lastBatch?: { entries: number; events: number; ms: number }
  lag: Record<string, number>
  lastSync?: SyncResult & { at: number }
  syncFailures: number
}

interface BatchEntry {
  stream: string
  id: string
  fields: string[]
  decoded?: DecodedEntry
  events: number
  /** Its fields as read, plus its events unpacked: what it holds in memory. */
  bytes: number
}

interface Batch {
  entries: BatchEntry[]
  events: number
  bytes: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export class Worker {
  readonly stats: WorkerStats = { startedAt: Date.now(), lastLoopAt: 0, batches: 0, entries: 0, eventsInserted: 0, deadLettered: 0, lostEntries: 0, claimed: 0, transientErrors: 0, groupsRecreated: 0, stuckWritersEnded: 0, mergedBatches: 0, lag: {}, syncFailures: 0 }
  private closing = false
  private running: Promise<void> | undefined
  private readonly streams: string[]
  private readonly log: Logger
  private trimTimer: NodeJS.Timeout | undefined
  private syncTimer: NodeJS.Timeout | undefined
  private trimming = false
  private syncing: Promise<unknown> | undefined
  private nextClaimAt = 0
  /** Running average, to size reads to the room left in a batch. */
  private eventsPerEntry = 10
  /** How many streams the last read brought entries from: a read's COUNT applies to each. */
  private streamsPerRead: number
  /**
   * Entries read past a full batch (a read cannot stop at an exact number of events): already
   * delivered to this consumer, they open the next batch, so every batch keeps its bounds.
   */
  private carried: BatchEntry[] = []
  private carriedAt = 0
  /**
   * Entries pending on this consumer that nobody is writing: at start, what the name left in
   * an earlier life; after a failed read (cut off by its deadline, or its connection lost),
   * whatever Redis delivered to it. Re-read from the pending list by the loop, once the link
   * is back, rather than left for a claim sweep CLAIM_IDLE_MS later.
   */
  private ownPendingUnread = true
  private wake: (() => void) | undefined
  /** Start times of the write attempts in flight, for the hung-write watchdog (main.ts). */
  private readonly attempts = new Set<{ startedAt: number }>()

  constructor(private readonly deps: WorkerDeps) {
    this.streams = allStreamKeys(deps.config.STREAM_SHARDS)
    this.streamsPerRead = this.streams.length
    this.log = deps.log.child({ component: 'consumer', consumer: deps.config.WORKER_NAME })
  }

  /** How long the oldest write attempt in flight has been waiting for Postgres (0: none). */
  oldestWriteAgeMs(now = Date.now()): number {
    let oldest = now
    for (const a of this.attempts) oldest = Math.min(oldest, a.startedAt)
    return now - oldest
  }

  get name() {
    return this.deps.config.WORKER_NAME
  }

  async start() {
    await ensureGroups(this.deps.redis, this.streams)
    this.running = this.run()
    this.trimTimer = setInterval(() => void this.trim(), this.deps.config.TRIM_INTERVAL_MS)
    this.trimTimer.unref()
    this.syncTimer = setInterval(() => void this.sync(), this.deps.config.SYNC_INTERVAL_MS)
    this.syncTimer.unref()
  }

  /**
   * Periodic cleanup-and-sync. Every replica tries; the advisory lock lets one run and the
   * others skip, so it keeps running as long as any replica is alive. When the lock is
   * taken, the holder may be another replica's periodic run, or an on-demand sync (POST
   * /sync, the CLI) or a recompute, which must not keep this one from happening (calls in a
   * loop would hold the lock nearly all the time): so the replica waits for the lock, up to
   * an interval, and skips only if a run of every tenant ended meanwhile.
   */
  async sync(): Promise<SyncResult | undefined> {
    if (this.syncing || this.closing) return undefined
    const interval = this.deps.config.SYNC_INTERVAL_MS
    const options = { sessionTimeoutMinutes: this.deps.config.SESSION_TIMEOUT_MINUTES }
    const run = cleanupAndSync(this.deps.db, { ...options, wait: false }).then((first) =>
      first.ran || this.closing ? first : cleanupAndSync(this.deps.db, { ...options, wait: true, lockTimeoutMs: interval, unlessRanWithinMs: interval / 2 }),
    )
    this.syncing = run
    try {
      const result = await run
      if (result.ran) {
        this.stats.lastSync = { ...result, at: Date.now() }
        if (result.namesError !== undefined) this.log.warn(result, 'cleanup-and-sync: some days\' top pages and events could not be built; they are read from their raw rows')
        if (!result.writersDone) this.log.warn(result, 'cleanup-and-sync: a transaction writing as the recompute began is still running; its days stay dirty for the next run')
        else if (result.namesError === undefined && (result.syncedDays > 0 || result.namedDays > 0 || result.sessionsClosed > 0)) this.log.info(result, 'cleanup-and-sync')
      }
      return result
    } catch (err) {
      // A wait for the lock cut short by shutdown (the pool closing) is not a failure.
      if (this.closing) return undefined
      if (databaseErrorCode(err) === LOCK_NOT_AVAILABLE) {
        this.log.info('cleanup-and-sync: the lock was held for a whole interval (a long recompute?); the next run tries again')
        return undefined
      }
      this.stats.syncFailures++
      this.log.warn({ err }, 'cleanup-and-sync failed; the next run retries')
      return undefined
    } finally {
      this.syncing = undefined
    }
  }

  /** Stops reading, finishes and acknowledges the batch in hand, then resolves. */
  async stop() {
    this.closing = true
    this.wake?.()
    if (this.trimTimer) clearInterval(this.trimTimer)
    if (this.syncTimer) clearInterval(this.syncTimer)
    // Interrupt a blocking read; entries it may have taken stay pending for this name.
    this.deps.blocking.disconnect()
    await this.running
  }

  /**
   * While one batch is being written, the next is read and decoded, and up to
   * WRITE_CONCURRENCY batches are written at once on separate connections: the upserts
   * commute, so their order does not matter, and a deadlock between them is a transient
   * error like any other.
   */
  private async run() {
    const writing = new Set<Promise<void>>()
    while (!this.closing) {
      // lastLoopAt is stamped by a read that succeeded (fill), not here: a loop whose every
      // read fails (a Redis answering READONLY after a failover) must not look healthy.
      try {
        if (this.ownPendingUnread) {
          // Every write settled first, what is pending on us is exactly what nobody is writing:
          // what this name left in an earlier life (at start), the read-ahead entries and
          // whatever a failed read was given. Re-read from the pending list, the read-ahead
          // ones are not kept twice. Redis trouble meanwhile (a lost group included) is the
          // loop's, below; the flag stays until a drain succeeds.
          await Promise.all(writing)
          this.carried = []
          await this.drainOwnPending()
          this.ownPendingUnread = false
        }
        if (Date.now() >= this.nextClaimAt) {
          await Promise.all(writing)
          // Renewed first, entries read ahead are not taken back by our own sweep and written twice.
          await this.keepOwnCarried()
          await this.claimAbandoned()
        }
        const batch = await this.fill()
        if (batch.entries.length > 0) {
          const write: Promise<void> = this.process(batch)
            .catch((err: unknown) => {
              // The entries stay pending; the claim sweep hands them back to us or a peer.
              this.stats.transientErrors++
              this.log.warn({ err }, 'a batch could not be acknowledged; it will be redelivered')
            })
            .finally(() => writing.delete(write))
          writing.add(write)
          if (writing.size >= this.deps.config.WRITE_CONCURRENCY) await Promise.race(writing)
        }
      } catch (err) {
        if (this.closing) break
        if (await this.recreateLostGroup(err)) continue
        // Redis trouble (the database side retries inside process()): wait and go on.
        this.stats.transientErrors++
        this.log.warn({ err }, 'consumer loop error; retrying')
        await this.pause(1_000)
      }
    }
    await Promise.all(writing)
    // What was read past the last batch is delivered to us: write it before leaving, as the
    // batch in hand, rather than leave it pending until a restart or a peer's claim sweep.
    const carried = this.carried
    this.carried = []
    await this.processBounded(carried, this.carriedAt).catch((err: unknown) => this.log.warn({ err }, 'entries read ahead could not be written before exit; they stay pending for a restart or a peer'))
    // A periodic sync may be waiting for the lock (up to SYNC_INTERVAL_MS, behind a recompute):
    // waited for a while, not for as long as that, which would outlast main.ts's shutdown
    // timeout. Still running after, it ends with the pool (main.ts closes it next): its
    // transaction rolls back and the next run does the work (cleanupAndSync, metrics.ts).
    if (this.syncing) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.syncing.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, SYNC_AT_SHUTDOWN_MS)))])
      clearTimeout(timer)
    }
  }

  /**
   * For a NOGROUP error: Redis lost its data (restarted without it, or flushed), and the first
   * XADD after made the stream again without the group, so every read would fail so for ever.
   * Makes the group again from the start of each stream, which delivers what came since.
   * Says whether it did (false: not that error, or Redis refused; the caller retries).
   */
  private async recreateLostGroup(err: unknown): Promise<boolean> {
    if (!String((err as Error).message).startsWith('NOGROUP')) return false
    this.log.error({ err }, 'the consumer group is gone (Redis lost its data?); making it again from the start of each stream')
    try {
      await ensureGroups(this.deps.redis, this.streams)
      this.stats.groupsRecreated++
      return true
    } catch (e) {
      this.log.warn({ err: e }, 'could not make the consumer group again; retrying')
      return false
    }
  }

  private async pause(ms: number) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.wake = undefined
  }

  private newBatch(): Batch {
    return { entries: [], events: 0, bytes: 0 }
  }

  /** Decodes entries as read, and weighs each in events and bytes. */
  private decode(entries: StreamEntry[]): BatchEntry[] {
    return entries.map(({ stream, id, fields }) => {
      let decoded: DecodedEntry | undefined
      let events = 0
      let bytes = 0
      if (fields) {
        try {
          decoded = decodeEntry(fields)
          events = decoded.kind === 'ev' ? decoded.events.length : 1
        } catch {
          decoded = undefined // dead-lettered in process()
        }
        for (const f of fields) bytes += f.length
        // Compressed events take ~10x their stream bytes once unpacked: count those too.
        if (decoded?.kind === 'ev') bytes += decoded.unpackedBytes
      }
      return { stream, id, fields: fields ?? [], decoded, events, bytes }
    })
  }

  /**
   * Adds entries, in order, while the batch stays within BATCH_MAX_EVENTS and BATCH_MAX_BYTES
   * (an empty batch takes its first entry whatever its size); returns those that did not fit.
   */
  private take(batch: Batch, entries: BatchEntry[]): BatchEntry[] {
    const { BATCH_MAX_EVENTS, BATCH_MAX_BYTES } = this.deps.config
    let i = 0
    for (; i < entries.length; i++) {
      const e = entries[i]!
      if (batch.entries.length > 0 && (batch.events + e.events > BATCH_MAX_EVENTS || batch.bytes + e.bytes > BATCH_MAX_BYTES)) break
      batch.entries.push(e)
      batch.events += e.events
      batch.bytes += e.bytes
    }
    return i === entries.length ? [] : entries.slice(i)
  }

  /**
   * Writes entries in hand (resumed, claimed, or read ahead at exit) as batches within the
   * bounds, one after another. `heldSince`: when our claim on them was last fresh.
   */
  private async processBounded(entries: BatchEntry[], heldSince = Date.now()) {
    while (entries.length > 0) {
      if (this.claimAging(heldSince)) {
        entries = await this.keepOwn(entries)
        heldSince = Date.now()
        continue
      }
      const batch = this.newBatch()
      entries = this.take(batch, entries)
      await this.process(batch)
    }
  }

  /** This consumer's entries that were delivered before but never acknowledged. */
  private async drainOwnPending() {
    const after = Object.fromEntries(this.streams.map((s) => [s, '0']))
    while (!this.closing) {
      const open = this.streams.filter((s) => after[s] !== undefined)
      if (open.length === 0) return
      const entries = await readGroup(this.deps.blocking, this.name, open, open.map((s) => after[s]!), 200, undefined)
      // Each stream goes on after the last entry it gave, and is done when it gave none.
      const read = groupIds(entries)
      for (const s of open) {
        const ids = read.get(s)
        if (ids) after[s] = ids[ids.length - 1]!
        else delete after[s]
      }
      if (entries.length > 0) {
        this.log.info({ entries: entries.length }, 'resuming entries this consumer had read but not acknowledged')
        await this.processBounded(this.decode(entries))
      }
    }
  }

  /**
   * Reads until the batch is full by events or bytes, or BATCH_MAX_WAIT_MS after its first
   * entry. It starts with the entries the previous read brought past its batch.
   */
  private async fill(): Promise<Batch> {
    const { BATCH_MAX_EVENTS, BATCH_MAX_BYTES, BATCH_MAX_WAIT_MS, READ_BLOCK_MS } = this.deps.config
    const batch = this.newBatch()
    let deadline = 0
    await this.keepOwnCarried()
    if (this.carried.length > 0) {
      this.carried = this.take(batch, this.carried)
      if (this.carried.length > 0) return batch
      deadline = Date.now() + BATCH_MAX_WAIT_MS
    }
    while (!this.closing && batch.events < BATCH_MAX_EVENTS && batch.bytes < BATCH_MAX_BYTES) {
      const wait = batch.entries.length === 0 ? READ_BLOCK_MS : deadline - Date.now()
      if (batch.entries.length > 0 && wait <= 0) break
      // Entries carry one request's events each, and COUNT applies to every stream: read about
      // as many as the batch has room for, shared among the streams that had entries last time.
      const count = Math.max(1, Math.min(1_000, Math.ceil((BATCH_MAX_EVENTS - batch.events) / this.eventsPerEntry / this.streamsPerRead)))
      let entries: StreamEntry[]
      try {
        entries = await readGroup(this.deps.blocking, this.name, this.streams, this.streams.map(() => '>'), count, Math.max(1, wait))
      } catch (err) {
        // Shutting down interrupts the read: finish the batch in hand.
        if (this.closing) break
        this.ownPendingUnread = true
        if (batch.entries.length > 0) break
        throw err
      }
      this.stats.lastLoopAt = Date.now()
      if (entries.length === 0) {
        if (batch.entries.length > 0 || Date.now() >= this.nextClaimAt) break
        continue
      }
      if (batch.entries.length === 0) deadline = Date.now() + BATCH_MAX_WAIT_MS
      const read = this.decode(entries)
      let events = 0
      for (const e of read) events += e.events
      this.eventsPerEntry = Math.max(1, (this.eventsPerEntry * 3 + events / read.length) / 4)
      this.streamsPerRead = new Set(entries.map((e) => e.stream)).size
      this.carried = this.take(batch, read)
      if (this.carried.length > 0) {
        this.carriedAt = Date.now()
        break
      }
    }
    return batch
  }

  /**
   * Entries held for a later batch wait for it, which takes long only while Postgres fails:
   * once they have waited a third of CLAIM_IDLE_MS, it is time to renew our claim on them.
   */
  private claimAging(heldSince: number): boolean {
    return Date.now() - heldSince >= this.deps.config.CLAIM_IDLE_MS / 3
  }

  private async keepOwnCarried() {
    if (this.carried.length === 0 || !this.claimAging(this.carriedAt)) return
    this.carried = await this.keepOwn(this.carried)
    this.carriedAt = Date.now()
  }

  /**
   * Renews our claim on entries held for a later batch, and drops those a peer's claim sweep
   * took meanwhile: that peer writes them. Those pending with no one (acknowledged, or gone
   * with a group Redis lost) are kept: the events are in hand, and writing one twice stores it once.
   */
  private async keepOwn(entries: BatchEntry[]): Promise<BatchEntry[]> {
    const peers = new Set<string>()
    for (const [stream, ids] of groupIds(entries)) for (const id of (await renewOwnClaims(this.deps.redis, stream, this.name, ids)).peers) peers.add(`${stream} ${id}`)
    if (peers.size > 0) this.log.warn({ entries: peers.size }, 'entries held for a later batch were taken over by a peer while the database was failing; leaving them to it')
    return peers.size === 0 ? entries : entries.filter((e) => !peers.has(`${e.stream} ${e.id}`))
  }

  /** Takes over entries left pending by consumers that stopped (or stalled) for CLAIM_IDLE_MS. */
  private async claimAbandoned() {
    this.nextClaimAt = Date.now() + Math.max(1_000, Math.min(this.deps.config.CLAIM_IDLE_MS / 2, 30_000))
    for (const stream of this.streams) {
      let cursor = '0-0'
      do {
        const [next, claimed, deleted] = (await this.deps.redis.xautoclaim(stream, CONSUMER_GROUP, this.name, this.deps.config.CLAIM_IDLE_MS, cursor, 'COUNT', 200)) as [string, Array<[string, string[]]>, string[]?]
        cursor = next
        if (deleted && deleted.length > 0) this.lost(stream, deleted)
        if (claimed.length > 0) {
          this.stats.claimed += claimed.length
          this.log.warn({ stream, entries: claimed.length }, 'took over entries another consumer left pending')
          await this.processBounded(this.decode(claimed.map(([id, fields]) => ({ stream, id, fields }))))
        }
      } while (cursor !== '0-0' && !this.closing)
    }
  }

  /** Fault injection for the crash tests (FAULT_CRASH_AT); never set in production. */
  private crashIf(point: 'after_read' | 'after_commit') {
    if (this.deps.config.FAULT_CRASH_AT === point) process.kill(process.pid, 'SIGKILL')
  }

  private lost(stream: string, ids: string[]) {
    // Trimmed before it was acknowledged: cannot happen with our trimming, but say so loudly.
    this.stats.lostEntries += ids.length
    this.log.error({ stream, ids }, 'pending entries no longer exist in the stream (trimmed): their events are lost')
  }

  private async process(batch: Batch) {
    const started = performance.now()
    const nil = batch.entries.filter((e) => e.fields.length === 0)
    const undecodable = batch.entries.filter((e) => e.fields.length > 0 && !e.decoded)
    const good = batch.entries.filter((e) => e.decoded)
    for (const e of undecodable) {
      await deadLetter(this.deps.redis, e.stream, e.id, e.fields, 'undecodable', 'the entry does not follow the stream codec')
      this.stats.deadLettered++
      this.log.error({ stream: e.stream, id: e.id }, 'dead-lettered an entry that cannot be decoded')
    }
    this.crashIf('after_read')
    await this.write(good)
    this.crashIf('after_commit')
    // Dead-lettered entries lost `decoded` and were acknowledged with their dead-letter copy.
    const ack = groupIds([...good.filter((g) => g.decoded), ...nil])
    for (const [stream, ids] of groupIds(nil)) this.lost(stream, ids)
    const pipeline = this.deps.redis.pipeline()
    for (const [stream, ids] of ack) pipeline.xack(stream, CONSUMER_GROUP, ...ids)
    // exec() resolves even when a command failed (NOGROUP, READONLY after a failover): look,
    // so that a batch left unacknowledged is said and counted, not recorded as done.
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err
    this.stats.batches++
    this.stats.entries += batch.entries.length
    this.stats.lastBatch = { entries: batch.entries.length, events: batch.events, ms: Math.round(performance.now() - started) }
    this.deps.observeBatch?.(batch.events, (performance.now() - started) / 1000)
    this.log.debug(this.stats.lastBatch, 'batch written')
  }

  /**
   * Writes entries in one transaction. Transient failures: retry with capped exponential
   * backoff and full jitter, renewing our claim on the entries so that no peer takes them
   * over meanwhile. Permanent failures: split in halves and write each on its own, until a
   * single entry fails alone; that one is dead-lettered (and acknowledged by the same script call).
   */
  private async write(entries: BatchEntry[]): Promise<void> {
    if (entries.length === 0) return
    let attempt = 0
    let lastLease = Date.now()
    let refusal: unknown
    for (;;) {
      try {
        const result = await this.watchForStuckWriters(writeBatch(this.deps.db, entries.map((e) => e.decoded!), this.deps.config.STATEMENT_TIMEOUT_MS))
        this.stats.eventsInserted += result.inserted
        if (result.path === 'merge') this.stats.mergedBatches++
        return
      } catch (err) {
        if (classify(err) === 'permanent') {
          refusal = err
          break
        }
        this.stats.transientErrors++
        if (this.closing && attempt > 0) throw err // leave them pending; a peer or our restart takes over
        const delay = Math.random() * Math.min(30_000, 200 * 2 ** Math.min(attempt, 8))
        this.log.warn({ code: errorCode(err), message: errorMessage(err), attempt, delayMs: Math.round(delay) }, 'database unavailable; batch kept and retried')
        attempt++
        if (Date.now() - lastLease > this.deps.config.CLAIM_IDLE_MS / 3) {
          await this.renewLease(entries)
          lastLease = Date.now()
        }
        await sleep(delay)
      }
    }
    if (entries.length === 1) {
      const only = entries[0]!
      await deadLetter(this.deps.redis, only.stream, only.id, only.fields, errorCode(refusal), errorMessage(refusal))
      this.stats.deadLettered++
      this.log.error({ stream: only.stream, id: only.id, code: errorCode(refusal), message: errorMessage(refusal) }, 'dead-lettered an entry the database refuses')
      only.decoded = undefined // acknowledged by the dead-letter script
      return
    }
    const middle = Math.ceil(entries.length / 2)
    await this.write(entries.slice(0, middle))
    await this.write(entries.slice(middle))
  }

  /**
   * While a write is slow, looks every min(TRANSACTION_IDLE_TIMEOUT_MS, STATEMENT_TIMEOUT_MS) / 2
   * for a silent peer's transaction that blocks a worker's write (persist/stuck-writers.ts) and
   * ends it. Also records the attempt for the hung-write watchdog.
   */
  private async watchForStuckWriters<T>(write: Promise<T>): Promise<T> {
    const { TRANSACTION_IDLE_TIMEOUT_MS: olderThanMs, STATEMENT_TIMEOUT_MS } = this.deps.config
    const attempt = { startedAt: Date.now() }
    this.attempts.add(attempt)
    let looking = false
    const timer = setInterval(() => {
      if (looking) return
      looking = true
      endStuckWriters(this.deps.db, olderThanMs)
        .then((ended) => {
          if (ended === 0) return
          this.stats.stuckWritersEnded += ended
          this.log.warn({ ended, olderThanMs }, 'ended worker transactions that blocked this write while their worker had been silent')
        })
        .catch((err: unknown) => this.log.debug({ err }, 'could not look for stuck writers'))
        .finally(() => (looking = false))
      // Look before our own blocked statement hits its statement timeout, or it never happens.
    }, Math.min(olderThanMs, STATEMENT_TIMEOUT_MS) / 2)
    try {
      return await write
    } finally {
      clearInterval(timer)
      this.attempts.delete(attempt)
    }
  }

  private async renewLease(entries: BatchEntry[]) {
    for (const [stream, ids] of groupIds(entries)) {
      await renewOwnClaims(this.deps.redis, stream, this.name, ids).catch(() => {})
    }
  }

  private async trim() {
    if (this.trimming || this.closing) return
    this.trimming = true
    try {
      const report = await trimAndTidy(this.deps.redis, this.streams, this.name)
      this.stats.lag = report.lag
      const total = Object.values(report.lag).reduce((a, b) => a + b, 0)
      if (total > this.deps.config.BACKLOG_WARN_ENTRIES) this.log.warn({ lag: report.lag }, 'the backlog is growing: add workers or check Postgres')
    } catch (err) {
      this.log.warn({ err }, 'trimming failed; will retry')
    } finally {
      this.trimming = false
    }
  }
}

/** Entry ids by stream. */
function groupIds(entries: Array<{ stream: string; id: string }>): Map<string, string[]> {
  const byStream = new Map<string, string[]>()
  for (const e of entries) {
    const ids = byStream.get(e.stream)
    if (ids) ids.push(e.id)
    else byStream.set(e.stream, [e.id])
  }
  return byStream
}
