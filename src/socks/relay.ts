import type { Socket } from 'node:net';
import type { TargetReader } from './target-reader.js';

export interface Meter {
  bytesUp: number;
  bytesDown: number;
  /** Spends a chunk from a budget: how many of its bytes may be forwarded (the rest is dropped). */
  charge?: ((bytes: number) => number) | undefined;
}

/**
 * Copies bytes both ways with backpressure and forwards half-closes, counting them on `meter`.
 * One 'data' listener per direction: a second listener (say, for counting beside `pipe`)
 * would make every emit copy the listener array. When the target was opened by a
 * `TargetReader`, its reads arrive there instead of as 'data' events.
 */
export function relay(client: Socket, target: Socket, meter: Meter, reader?: TargetReader): void {
  client.on('data', (chunk: Buffer) => {
    const n = meter.charge === undefined ? chunk.length : meter.charge(chunk.length);
    if (n === 0) return;
    meter.bytesUp += n;
    if (!target.write(n === chunk.length ? chunk : chunk.subarray(0, n))) client.pause();
  });
  if (reader === undefined) {
    target.on('data', (chunk: Buffer) => {
      const n = meter.charge === undefined ? chunk.length : meter.charge(chunk.length);
      if (n === 0) return;
      meter.bytesDown += n;
      if (!client.write(n === chunk.length ? chunk : chunk.subarray(0, n))) target.pause();
    });
  }
  target.on('drain', () => client.resume());
  client.on('drain', () => target.resume());
  client.on('end', () => target.end());
  target.on('end', () => client.end());
}
