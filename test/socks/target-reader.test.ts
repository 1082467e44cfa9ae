import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { pooledBuffers, TargetReader } from '../../src/socks/target-reader.js';
import { eventually, fakeGate, fakeGrant, listen, socksConnect, startProxy } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An origin that writes `payload` to every connection as soon as it is accepted, then ends. */
async function speakingOrigin(payload: Buffer): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end(payload);
  });
  return listen(server);
}

/** Reads everything from `socket`, pausing now and then so that the proxy meets backpressure. */
function slowRead(socket: net.Socket, pauseEvery: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (++n % pauseEvery === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 2);
      }
    });
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

describe('relay reads from the target into pooled buffers', () => {
  it('delivers every byte intact to many slow readers at once, and returns its buffers', async () => {
    const payload = randomBytes(6 * 1024 * 1024 + 123);
    const origin = await speakingOrigin(payload);
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ u: grant }) });
    const received = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => slowRead(await socksConnect(port, 'u', '127.0.0.1', origin), 3 + i)),
    );
    for (const data of received) {
      expect(data.length).toBe(payload.length);
      expect(sha(data)).toBe(sha(payload));
    }
    await eventually(() => grant.closed.length === 12);
    expect(grant.closed.every((c) => c.bytesDown === payload.length)).toBe(true);
    // Streams took buffers of their own; all of them came back when the connections ended.
    expect(pooledBuffers()).toBeGreaterThan(0);
  });

  it('never reads into a buffer that a write still holds', async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const origin = await speakingOrigin(payload);
    // A client whose writes never complete and never push back: every read stays held.
    const held: Buffer[] = [];
    let flushes: (() => void)[] = [];
    const client = {
      writableLength: 0,
      write(chunk: Buffer, done: () => void) {
        held.push(chunk);
        flushes.push(done);
        this.writableLength += chunk.length;
        return true;
      },
    };
    const reader = new TargetReader();
    const target = reader.connect('127.0.0.1', origin);
    target.on('connect', () => reader.start(client as unknown as net.Socket, { bytesUp: 0, bytesDown: 0 }));
    await new Promise((resolve) => target.on('end', resolve));
    expect(Buffer.concat(held).equals(payload)).toBe(true);
    // Once the client has flushed everything, the held buffers go back to the pool.
    const before = pooledBuffers();
    client.writableLength = 0;
    for (const done of flushes) done();
    flushes = [];
    target.destroy();
    reader.release();
    expect(pooledBuffers()).toBeGreaterThan(before);
  });

  it('passes on bytes a target sends before the reply, after the reply', async () => {
    const payload = Buffer.from('220 hello from a server that speaks first\r\n');
    const origin = await speakingOrigin(payload);
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ u: grant }) });
    const socket = await socksConnect(port, 'u', '127.0.0.1', origin);
    expect((await slowRead(socket, 1000)).toString()).toBe(payload.toString());
  });

  it('forwards only the bytes a charge allows, then stops reading', async () => {
    const payload = randomBytes(1024 * 1024);
    const origin = await speakingOrigin(payload);
    let budget = 300_000;
    const grant = fakeGrant();
    const metered = Object.assign(grant, {
      charge(bytes: number) {
        const allowed = Math.min(bytes, budget);
        budget -= allowed;
        return allowed;
      },
    });
    const { port } = await startProxy({ gate: fakeGate({ u: metered }) });
    const socket = await socksConnect(port, 'u', '127.0.0.1', origin);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await eventually(() => Buffer.concat(chunks).length >= 300_000);
    await new Promise((r) => setTimeout(r, 100));
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(300_000);
    expect(got.equals(payload.subarray(0, 300_000))).toBe(true);
    expect(grant.opened[0]!.bytesDown).toBe(300_000);
  });
});
