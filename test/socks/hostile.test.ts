import { describe, expect, it } from 'vitest';
import { Command, encodeCredentials, encodeGreeting, Method, Reply } from '../../src/socks/protocol.js';
import {
  eventually,
  fakeGate,
  fakeGrant,
  rawConnect,
  request,
  startEchoOrigin,
  startProxy,
} from './helpers.js';

/** The proxy still serves a well-behaved client. */
async function expectServing(port: number, originPort: number): Promise<void> {
  const { client, reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', originPort);
  expect(reply.reply).toBe(Reply.Succeeded);
  client.write(Buffer.from('still here'));
  expect((await client.read(10)).toString()).toBe('still here');
  client.socket.destroy();
}

/** Deterministic, so that a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('hostile input', () => {
  it.each([
    ['SOCKS4 greeting', [0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00]],
    ['HTTP request', [...Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
    ['no methods', [0x05, 0x00]],
    ['empty username', [...encodeGreeting([Method.UserPass]), 0x01, 0x00, 0x00]],
    ['wrong sub-negotiation version', [...encodeGreeting([Method.UserPass]), 0x05, 0x01, 0x61, 0x00]],
    ['request with a bad version', [...encodeGreeting([Method.UserPass]), ...encodeCredentials('KEY', ''), 0x04, 1, 0, 1]],
    ['empty domain', [...encodeGreeting([Method.UserPass]), ...encodeCredentials('KEY', ''), 5, 1, 0, 3, 0, 0, 80]],
  ])('closes the connection on a %s and keeps serving', async (_, bytes) => {
    const origin = await startEchoOrigin();
    const { port, server } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    client.write(bytes);
    const answered = await client.closed();
    // At most the method and authentication replies of the valid prefix.
    expect(answered.length).toBeLessThanOrEqual(4);
    await expectServing(port, origin.port);
    await eventually(() => server.stats().connections === 0);
  });

  it('closes a client that goes quiet mid-handshake', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }), handshakeTimeoutMs: 150 });
    const quiet = await rawConnect(port);
    quiet.write(encodeGreeting([Method.UserPass]));
    expect([...(await quiet.read(2))]).toEqual([0x05, 0x02]);
    const started = Date.now();
    await quiet.closed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await expectServing(port, origin.port);
  });

  it('closes a client that half-closes mid-handshake', async () => {
    const { port, server } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    client.write(encodeGreeting([Method.UserPass]));
    client.socket.end();
    await client.closed();
    await eventually(() => server.stats().connections === 0);
  });

  it('survives a gate that throws', async () => {
    const origin = await startEchoOrigin();
    let fail = true;
    const grant = fakeGrant();
    const { port, server } = await startProxy({
      gate: {
        authorize() {
          if (fail) throw new Error('cache exploded');
          return { ok: true, grant };
        },
      },
    });
    const client = await rawConnect(port);
    client.write(Buffer.concat([encodeGreeting([Method.UserPass]), encodeCredentials('KEY', '')]));
    await client.closed();
    await eventually(() => server.stats().connections === 0);
    fail = false;
    await expectServing(port, origin.port);
  });

  it('survives 300 random inputs and keeps serving', async () => {
    const origin = await startEchoOrigin();
    const random = prng(0x50c55);
    const { port, server } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant() }),
      handshakeTimeoutMs: 300,
      connectTimeoutMs: 300,
      // Whatever a random request names, nothing leaves the machine, and only the origin's address is reachable.
      egress: { isAllowed: (ip) => ip === '127.0.0.1' },
      resolve: () => Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' })),
    });
    const prefixes = [
      Buffer.alloc(0),
      encodeGreeting([Method.UserPass]),
      Buffer.concat([encodeGreeting([Method.UserPass]), encodeCredentials('KEY', '')]),
      Buffer.concat([encodeGreeting([Method.UserPass]), encodeCredentials('KEY', ''), Buffer.from([0x05])]),
    ];
    const inputs = Array.from({ length: 300 }, (_, i) => {
      const noise = Buffer.alloc(1 + Math.floor(random() * 600));
      for (let j = 0; j < noise.length; j++) noise[j] = Math.floor(random() * 256);
      return Buffer.concat([prefixes[i % prefixes.length]!, noise]);
    });

    for (let batch = 0; batch < inputs.length; batch += 50) {
      await Promise.all(
        inputs.slice(batch, batch + 50).map(async (input) => {
          const client = await rawConnect(port);
          client.write(input);
          await client.closed();
        }),
      );
    }
    await eventually(() => server.stats().connections === 0);
    expect(server.stats().accepted).toBe(300);
    await expectServing(port, origin.port);
  });

  it('refuses a greeting followed by a megabyte of garbage', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    client.write(Buffer.concat([Buffer.from([0x05, 0xff]), Buffer.alloc(1024 * 1024, 0x01)]));
    expect([...(await client.read(2))]).toEqual([0x05, 0xff]);
    await client.closed();
    await expectServing(port, origin.port);
  });
});
