import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * Closes with RST — unless a graceful close (FIN) has already started on this socket: resetting
 * a socket whose shutdown is pending leaves its native handle referenced, and Node then spins
 * for ever at exit (the "tap process never exits" of the ingest↔Redis stall test; the same
 * race libp2p hit, libp2p/js-libp2p#3597).
 */
function rst(socket: Socket) {
  if (socket.writableEnded || socket.destroyed) socket.destroy()
  else socket.resetAndDestroy()
}

/** One proxied connection; while frozen, bytes read from either side wait in its queues. */
interface Pair {
  client: Socket
  upstream?: Socket
  toUpstream: Buffer[]
  toClient: Buffer[]
  /** Held by holdOpen(): this connection alone is frozen. */
  held?: boolean
}

/**
 * A TCP proxy for network faults between a component and Redis or Postgres (what
 * Toxiproxy's `timeout` and `reset_peer` toxics do, in-process with `net`):
 *   - freeze(): stop moving bytes both ways and hold new connections, sockets stay open —
 *     a stalled link or a half-open connection; the peers see silence, not an error.
 *   - holdOpen(): freeze only the connections open now; new ones pass — a link that died
 *     silently (a NAT or firewall dropped its state) while the server is fine.
 *   - thaw(): deliver everything that was held, in order.
 *   - reset(): close every connection with a TCP RST (new ones are accepted as usual); a
 *     socket whose graceful close has already begun is just destroyed (see rst()).
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>()
  private server: Server | undefined
  private frozen = false
  private closed = false
  port = 0
  /** Connections accepted, and connections closed by reset(), since start. */
  readonly stats = { accepted: 0, resets: 0 }

  constructor(private target: { host: string; port: number }) {}

  /** New connections go to the server `targetUrl` names; open ones stay where they are (a DNS switch after a failover). */
  retarget(targetUrl: string) {
    const { hostname, port } = new URL(targetUrl)
    this.target = { host: hostname, port: Number(port) }
  }

  /** A started proxy in front of the server a redis:// or postgres:// URL names. */
  static to(targetUrl: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(targetUrl)
    return new TcpProxy({ host: hostname, port: Number(port) }).start()
  }

  /** Listens on a free loopback port; `url` rewrites a redis:// or postgres:// URL to go through it. */
  async start(): Promise<this> {
    this.server = createServer((client) => this.accept(client))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  url(targetUrl: string): string {
    const u = new URL(targetUrl)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString()
  }

  private accept(client: Socket) {
    if (this.closed) {
      rst(client)
      return
    }
    this.stats.accepted++
    const pair: Pair = { client, toUpstream: [], toClient: [] }
    this.pairs.add(pair)
    client.setNoDelay(true)
    const forget = () => {
      this.pairs.delete(pair)
      client.destroy()
      pair.upstream?.destroy()
    }
    client.on('error', forget).on('close', forget)
    client.on('data', (chunk: Buffer) => {
      if (this.frozen || pair.held || !pair.upstream) pair.toUpstream.push(chunk)
      else pair.upstream.write(chunk)
    })
    if (!this.frozen) this.connectUpstream(pair)
  }

  private connectUpstream(pair: Pair) {
    const upstream = connect(this.target.port, this.target.host)
    upstream.setNoDelay(true)
    pair.upstream = upstream
    const forget = () => {
      this.pairs.delete(pair)
      upstream.destroy()
      pair.client.destroy()
    }
    upstream.on('error', forget).on('close', forget)
    upstream.on('data', (chunk: Buffer) => {
      if (this.frozen || pair.held) pair.toClient.push(chunk)
      else pair.client.write(chunk)
    })
    this.flush(pair)
  }

  private flush(pair: Pair) {
    for (const chunk of pair.toUpstream.splice(0)) pair.upstream!.write(chunk)
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk)
  }

  freeze() {
    this.frozen = true
  }

  holdOpen() {
    for (const pair of this.pairs) pair.held = true
  }

  thaw() {
    this.frozen = false
    for (const pair of [...this.pairs]) {
      pair.held = false
      if (pair.upstream) this.flush(pair)
      else this.connectUpstream(pair)
    }
  }

  /** Every open connection, both sides, closed with RST (or destroyed, when its FIN is already pending). */
  reset() {
    for (const pair of [...this.pairs]) {
      this.stats.resets++
      this.pairs.delete(pair)
      rst(pair.client)
      if (pair.upstream) rst(pair.upstream)
    }
  }

  /** Stops listening and resets every connection; clients that reconnect meanwhile are reset too. */
  async close() {
    this.closed = true
    const stopped = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.reset()
    await stopped
  }

  /** Freezes for `ms`, then thaws. */
  async freezeFor(ms: number) {
    this.freeze()
    await new Promise((r) => setTimeout(r, ms))
    this.thaw()
  }
}
