import type { Socket } from 'node:net';
import type { TargetReader } from './target-reader.js';

export interface Meter {
  bytesUp: number;
  bytesDown: number;
  /** Spends a chunk from a budget: how many of its bytes may be forwarded (the rest is dropped). */
  charge?: ((bytes: number) => number) | undefined;
}

const PEER = Symbol('relay.peer');
const METER = Symbol('relay.meter');

interface RelaySocket extends Socket {
  [PEER]: RelaySocket;
  [METER]: Meter;
}

/**
 * Copies bytes both ways with backpressure and forwards half-closes, counting them on `meter`.
 * The listeners are shared by every relay (each socket knows its peer and meter), so a relay
 * costs no closures; one 'data' listener per direction, since a second one (say, for counting
 * beside `pipe`) would make every emit copy the listener array. When the target was opened by
 * a `TargetReader`, its reads arrive there instead of as 'data' events.
 */
export function relay(client: Socket, target: Socket, meter: Meter, reader?: TargetReader): void {
  const c = client as RelaySocket;
  const t = target as RelaySocket;
  c[PEER] = t;
  t[PEER] = c;
  c[METER] = meter;
  t[METER] = meter;
  c.on('data', onClientData);
  if (reader === undefined) t.on('data', onTargetData);
  c.on('drain', resumePeer);
  t.on('drain', resumePeer);
  c.on('end', endPeer);
  t.on('end', endPeer);
}

function onClientData(this: RelaySocket, chunk: Buffer): void {
  const meter = this[METER];
  const n = meter.charge === undefined ? chunk.length : meter.charge(chunk.length);
  if (n === 0) return;
  meter.bytesUp += n;
  if (!this[PEER].write(n === chunk.length ? chunk : chunk.subarray(0, n))) this.pause();
}

function onTargetData(this: RelaySocket, chunk: Buffer): void {
  const meter = this[METER];
  const n = meter.charge === undefined ? chunk.length : meter.charge(chunk.length);
  if (n === 0) return;
  meter.bytesDown += n;
  if (!this[PEER].write(n === chunk.length ? chunk : chunk.subarray(0, n))) this.pause();
}

function resumePeer(this: RelaySocket): void {
  this[PEER].resume();
}

/**
 * This side sent its FIN: pass it on. When the peer had already ended too and has nothing left
 * to flush, both directions are over and closing it sends the same FIN without a separate
 * shutdown.
 */
function endPeer(this: RelaySocket): void {
  const peer = this[PEER];
  if (peer.readableEnded && peer.writableLength === 0 && !peer.writableEnded) peer.destroy();
  else peer.end();
}

/** Drops the links `relay` made, once both sockets are closed (see SocksConnection.finish). */
export function unlinkRelay(socket: Socket): void {
  const s = socket as Partial<RelaySocket>;
  s[PEER] = undefined;
  s[METER] = undefined;
}
