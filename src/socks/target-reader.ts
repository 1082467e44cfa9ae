import net, { type Socket } from 'node:net';
import type { Meter } from './relay.js';

/**
 * Reads from a target without a fresh allocation per read.
 *
 * Node's default read path allocates a 64 KiB buffer for every read; on a busy stream that is
 * thousands of external allocations a second, and every one of them pushes V8 towards a full
 * garbage collection of the whole heap (GraphQL, Prisma, caches) — the cost that dominated the
 * relay. Target sockets here read into buffers of our own (`onread`):
 *
 * - a quiet connection reads into one small buffer shared by all of them, and each read is
 *   copied out before the callback returns (a small allocation, as Node would have made);
 * - a read that fills the shared buffer means a stream: the connection then reads into a large
 *   buffer of its own, taken from a pool, and its reads are written on without a copy. A write
 *   the kernel does not take at once keeps that buffer ("pinned") until the client socket has
 *   flushed; reads go on into another one. When the stream calms down, or the connection ends,
 *   its buffers go back to the pool.
 *
 * So memory grows with the connections that are streaming, not with those that are open.
 */
const SHARED_SIZE = 16 * 1024;
const OWN_SIZE = 256 * 1024;
/** Buffers kept for reuse; beyond that, returned ones are left to the garbage collector. */
const POOL_MAX = 64;

const shared = Buffer.allocUnsafe(SHARED_SIZE);
const pool: Buffer[] = [];

const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafe(OWN_SIZE);
const give = (buf: Buffer): void => {
  if (pool.length < POOL_MAX) pool.push(buf);
};

/** Buffers currently in the pool (tests). */
export const pooledBuffers = (): number => pool.length;

export class TargetReader {
  private client: Socket | undefined;
  private meter: Meter | undefined;
  private target: Socket | undefined;
  /** The large buffer the target reads into while it streams. */
  private own: Buffer | undefined;
  /** Own buffers that writes to the client still hold. */
  private readonly pinned: Buffer[] = [];
  /** Bytes that arrived before the relay started. */
  private early: Buffer[] = [];
  private done = false;
  // Bound once per reader. Not arrow-function fields: tsx's keepNames gives each of those a
  // `name` property that turns the function into a slow dictionary-mode object, per connection.
  private readonly next = this.bufferForRead.bind(this);
  private readonly onRead = this.read.bind(this);
  private readonly onFlushed = this.flushed.bind(this);

  /** Opens a TCP connection to the target whose reads this reader receives. */
  connect(host: string, port: number): Socket {
    this.target = net.connect({
      host,
      port,
      noDelay: true,
      allowHalfOpen: true,
      onread: { buffer: this.next, callback: this.onRead },
    });
    return this.target;
  }

  /**
   * From now on each read is counted on `meter`, charged, and written to `client`. Bytes that
   * came before are returned, already counted and charged, for the caller to write after its reply.
   */
  start(client: Socket, meter: Meter): Buffer[] {
    this.client = client;
    this.meter = meter;
    const early: Buffer[] = [];
    for (const chunk of this.early) {
      const n = meter.charge === undefined ? chunk.length : meter.charge(chunk.length);
      if (n === 0) break;
      meter.bytesDown += n;
      early.push(chunk.subarray(0, n));
    }
    this.early = [];
    return early;
  }

  /** Both sockets are closed: no read or write holds a buffer any more. */
  release(): void {
    if (this.done) return;
    this.done = true;
    if (this.own !== undefined) give(this.own);
    this.own = undefined;
    this.releasePinned();
    // The connection is over: no links left for a promoted reader to keep young objects alive by.
    this.client = undefined;
    this.meter = undefined;
    this.target = undefined;
    this.early = [];
  }

  private bufferForRead(): Buffer {
    return this.own ?? shared;
  }

  private read(n: number, buf: Buffer): boolean {
    const { client, meter } = this;
    if (client === undefined || meter === undefined) {
      // Not relaying yet (a target that speaks first): keep a copy and stop reading until then.
      this.early.push(Buffer.from(buf.subarray(0, n)));
      return false;
    }
    const read = n;
    if (meter.charge !== undefined) n = meter.charge(read);
    if (n === 0) return false;
    meter.bytesDown += n;
    if (buf === shared) {
      const ok = client.write(Buffer.from(buf.subarray(0, n)), this.onFlushed);
      if (read === SHARED_SIZE && !this.done) this.own = take();
      return ok;
    }
    const ok = client.write(buf.subarray(0, n), this.onFlushed);
    if (client.writableLength !== 0) {
      this.pinned.push(buf);
      this.own = read === buf.length && !this.done ? take() : undefined;
    } else if (read < SHARED_SIZE) {
      // The stream went quiet: back to the shared buffer.
      this.own = undefined;
      give(buf);
    }
    return ok;
  }

  /** A write to the client completed; once nothing is queued, no write holds a pinned buffer. */
  private flushed(): void {
    // After release() (the connection is over), nothing is pinned any more.
    if (this.pinned.length !== 0 && this.client !== undefined && this.client.writableLength === 0) this.releasePinned();
  }

  private releasePinned(): void {
    for (const buf of this.pinned) give(buf);
    this.pinned.length = 0;
  }
}
