import net from 'node:net';
import { freePort } from './ports.js';

/**
 * What a FaultProxy does to the traffic between a client and its server:
 * - `pass`: forwards both ways, FIN and RST included.
 * - `blackhole`: a partition. Nothing crosses, neither bytes nor FIN nor RST; both sides' sockets
 *   stay open and what they send is read and dropped (not buffered: a partition loses packets,
 *   it does not hold them). New connections are accepted and dropped into the hole too, without
 *   an upstream connection. Bytes already handed to a socket before the switch may still arrive.
 * - `reset`: every connection is closed with RST on both sides, new ones at once.
 * - `{ delayMs }`: each chunk is forwarded `delayMs` after it was read, in order per direction.
 */
export type FaultMode = 'pass' | 'blackhole' | 'reset' | { delayMs: number };

/** Where a chunk `FaultProxy.intercept` sees comes from: its connection (numbered from 1, in order of accept) and direction. */
export interface ChunkSource {
  connection: number;
  toServer: boolean;
}

/**
 * What `FaultProxy.intercept` decides for one chunk: `pass` (the mode applies as usual), `drop`
 * (lost, as in a blackhole, but only this chunk: the connection stays up) or `reset` (the chunk
 * is lost and its connection reset with RST on both sides).
 */
export type ChunkVerdict = 'pass' | 'drop' | 'reset';

/**
 * Bytes one direction of a connection holds before it stops reading from its sender. In delay
 * mode this caps throughput at MAX_QUEUED_BYTES per `delayMs`, which is what in flight means.
 */
const MAX_QUEUED_BYTES = 1024 * 1024;

/**
 * A loopback TCP proxy in front of one backend server, whose faults are switched at run time:
 * point a lockd replica at `endpoint` instead of the server and call `setMode`.
 *
 * Leaving `blackhole`: a connection that lost anything in the hole (bytes, a FIN, an error from
 * the other side) or that was accepted during it is reset with RST, because dropped bytes break a
 * protocol's framing and a reset makes the client reconnect cleanly. A connection that was quiet
 * throughout carries on. A refused or failed upstream connection resets its client.
 */
export class FaultProxy {
  readonly endpoint: string;
  private current: FaultMode = 'pass';
  private readonly links = new Set<Link>();
  private accepted = 0;
  /**
   * Sees every chunk read from either side before the mode applies to it, for faults aimed at
   * one message (a reply lost after the server committed). Unset (the default): every chunk
   * passes to the mode.
   */
  intercept: ((chunk: Buffer, from: ChunkSource) => ChunkVerdict) | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    this.endpoint = `127.0.0.1:${port}`;
    server.on('connection', (client) => this.accept(client));
  }

  /** Listens on 127.0.0.1 at a free port below 32768; rejects if none could be bound. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const server = net.createServer({ allowHalfOpen: true });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => resolve());
        });
        return new FaultProxy(server, port, target);
      } catch (err) {
        // Another process may take the port between freePort's check and our listen.
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 4) throw err;
      }
    }
  }

  get mode(): FaultMode {
    return this.current;
  }

  /** Applies `mode` to current connections at once and to every later one. */
  setMode(mode: FaultMode): void {
    if (typeof mode === 'object' && !(Number.isFinite(mode.delayMs) && mode.delayMs >= 0)) {
      throw new RangeError(`delayMs must be a finite number >= 0, got ${mode.delayMs}`);
    }
    const leavingBlackhole = this.current === 'blackhole' && mode !== 'blackhole';
    this.current = mode;
    for (const link of this.links) {
      if (mode === 'reset' || (leavingBlackhole && link.damaged)) link.reset();
      else if (mode === 'blackhole') link.enterBlackhole();
    }
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const link of this.links) link.destroy();
    await closed;
  }

  private accept(client: net.Socket): void {
    if (this.current === 'reset') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const link = new Link(client, () => this.current, ++this.accepted, (chunk, from) => this.intercept?.(chunk, from) ?? 'pass');
    this.links.add(link);
    if (this.current === 'blackhole') link.swallow();
    else link.connect(this.target);
    void link.closed().then(() => this.links.delete(link));
  }
}

/** One client connection and, unless it was accepted into a blackhole, its upstream connection. */
class Link {
  /** Lost something in a blackhole, or never had an upstream: must be reset when it ends. */
  damaged = false;
  private upstream: net.Socket | undefined;
  private readonly directions: Direction[] = [];

  constructor(
    private readonly client: net.Socket,
    readonly mode: () => FaultMode,
    readonly id: number,
    readonly intercept: (chunk: Buffer, from: ChunkSource) => ChunkVerdict,
  ) {}

  /** Settles once both sockets are closed (across a blackhole, one may close long before the other). */
  closed(): Promise<unknown> {
    const sockets = this.upstream === undefined ? [this.client] : [this.client, this.upstream];
    return Promise.all(sockets.map((socket) => (socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve)))));
  }

  /** Accepted during a blackhole: read and drop, never connect upstream. */
  swallow(): void {
    this.damaged = true;
    this.client.on('error', () => undefined);
    this.client.on('data', () => undefined);
  }

  connect(target: { host: string; port: number }): void {
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.upstream = upstream;
    this.directions.push(new Direction(this.client, upstream, this, true), new Direction(upstream, this.client, this, false));
    this.client.on('error', () => this.failed(upstream));
    upstream.on('error', () => this.failed(this.client));
  }

  enterBlackhole(): void {
    for (const direction of this.directions) direction.drop();
  }

  reset(): void {
    for (const socket of [this.client, this.upstream]) {
      if (socket !== undefined && !socket.destroyed) socket.resetAndDestroy();
    }
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** One side died abortively: the other side learns it by RST, except across a blackhole. */
  private failed(other: net.Socket): void {
    if (this.mode() === 'blackhole') this.damaged = true;
    else if (!other.destroyed) other.resetAndDestroy();
  }
}

/** The bytes from one socket to the other, delayed, dropped or passed by the link's mode. */
class Direction {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private pausedByUs = false;
  private ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly link: Link,
    private readonly toServer: boolean,
  ) {
    from.on('data', (chunk: Buffer) => this.receive(chunk));
    from.on('end', () => this.receiveEnd());
    to.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
  }

  /** Drops what is queued (a loss, if anything was) and keeps reading so the sender is not held back. */
  drop(): void {
    if (this.queue.length > 0) this.link.damaged = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    clearTimeout(this.timer);
    this.resumeSender();
  }

  private receive(chunk: Buffer): void {
    const verdict = this.link.intercept(chunk, { connection: this.link.id, toServer: this.toServer });
    if (verdict === 'reset') this.link.reset();
    if (verdict !== 'pass') return;
    const mode = this.link.mode();
    if (mode === 'blackhole') {
      this.link.damaged = true;
      return;
    }
    const delayMs = typeof mode === 'object' ? mode.delayMs : 0;
    this.queue.push({ chunk, due: performance.now() + delayMs });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes >= MAX_QUEUED_BYTES && !this.pausedByUs) {
      this.pausedByUs = true;
      this.from.pause();
    }
    this.pump();
  }

  private receiveEnd(): void {
    if (this.link.mode() === 'blackhole') {
      this.link.damaged = true;
      return;
    }
    this.ended = true;
    this.pump();
  }

  /** Writes every chunk that is due, oldest first, until the receiver pushes back. */
  private pump(): void {
    clearTimeout(this.timer);
    while (!this.waitingForDrain && this.queue.length > 0) {
      const head = this.queue[0]!;
      const waitMs = head.due - performance.now();
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(waitMs));
        break;
      }
      this.queue.shift();
      this.queuedBytes -= head.chunk.length;
      if (!this.to.destroyed && !this.to.write(head.chunk)) this.waitingForDrain = true;
    }
    if (this.queuedBytes < MAX_QUEUED_BYTES) this.resumeSender();
    if (this.ended && this.queue.length === 0 && !this.to.writableEnded && !this.to.destroyed) this.to.end();
  }

  private resumeSender(): void {
    if (!this.pausedByUs) return;
    this.pausedByUs = false;
    this.from.resume();
  }
}
