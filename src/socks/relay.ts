import type { Socket } from 'node:net';

export interface Meter {
  bytesUp: number;
  bytesDown: number;
  /** Spends a chunk from a budget; false: the chunk is not forwarded (the budget is gone). */
  charge?: ((bytes: number) => boolean) | undefined;
}

/**
 * Copies bytes both ways with backpressure and forwards half-closes, counting them on `meter`.
 * One 'data' listener per direction: a second listener (say, for counting beside `pipe`)
 * would make every emit copy the listener array.
 */
export function relay(client: Socket, target: Socket, meter: Meter): void {
  client.on('data', (chunk: Buffer) => {
    meter.bytesUp += chunk.length;
    if (meter.charge !== undefined && !meter.charge(chunk.length)) return;
    if (!target.write(chunk)) client.pause();
  });
  target.on('data', (chunk: Buffer) => {
    meter.bytesDown += chunk.length;
    if (meter.charge !== undefined && !meter.charge(chunk.length)) return;
    if (!client.write(chunk)) target.pause();
  });
  target.on('drain', () => client.resume());
  client.on('drain', () => target.resume());
  client.on('end', () => target.end());
  target.on('end', () => client.end());
}
