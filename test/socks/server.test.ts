import { once } from 'node:events';
import net from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEgressPolicy } from '../../src/socks/egress.js';
import { AddressType, Command, encodeCredentials, encodeGreeting, encodeRequest, Method, Reply } from '../../src/socks/protocol.js';
import type { Logger } from '../../src/socks/types.js';
import {
  authenticate,
  closedPort,
  eventually,
  exchange,
  fakeGate,
  fakeGrant,
  listen,
  rawConnect,
  readReply,
  request,
  socksConnect,
  startEchoOrigin,
  startProxy,
} from './helpers.js';

describe('CONNECT', () => {
  it('relays to an IPv4 target and reports the outbound socket as BND.ADDR/BND.PORT', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });

    const { client, reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', origin.port);
    expect(reply).toEqual({ reply: Reply.Succeeded, addressType: AddressType.IPv4, host: '127.0.0.1', port: origin.peers[0] });
    client.write(Buffer.from('ping'));
    expect((await client.read(4)).toString()).toBe('ping');
    expect(grant.opened).toHaveLength(1);
    expect(grant.opened[0]).toMatchObject({ key: 'key-1', target: `127.0.0.1:${origin.port}` });
  });

  it('relays to an IPv6 target', async () => {
    const origin = await startEchoOrigin('::1');
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });

    const { client, reply } = await request(port, 'KEY', Command.Connect, '::1', origin.port);
    expect(reply).toMatchObject({ reply: Reply.Succeeded, addressType: AddressType.IPv6, host: '::1', port: origin.peers[0] });
    client.write(Buffer.from('v6'));
    expect((await client.read(2)).toString()).toBe('v6');
    expect(grant.opened[0]!.target).toBe(`[::1]:${origin.port}`);
  });

  it('resolves domain names on the proxy side', async () => {
    const origin = await startEchoOrigin();
    const resolved: string[] = [];
    const { port } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant() }),
      resolve: async (hostname) => {
        resolved.push(hostname);
        return { address: '127.0.0.1', family: 4 };
      },
    });

    const socket = await socksConnect(port, 'KEY', 'origin.test', origin.port);
    expect((await exchange(socket, Buffer.from('by name'))).toString()).toBe('by name');
    expect(resolved).toEqual(['origin.test']);
  });

  it('counts exact payload bytes both ways, handshake excluded', async () => {
    const up = 300_001;
    const down = 1_234_567;
    const originServer = net.createServer((socket) => {
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.on('end', () => socket.end(Buffer.alloc(received === up ? down : 1, 7)));
    });
    const originPort = await listen(originServer);
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });

    const socket = await socksConnect(port, 'KEY', '127.0.0.1', originPort);
    const conn = grant.opened[0]!;
    const closed = grant.nextClose();
    const received = await exchange(socket, Buffer.alloc(up, 1));
    expect(received).toHaveLength(down);
    await closed;
    expect(conn.bytesUp).toBe(up);
    expect(conn.bytesDown).toBe(down);
    expect(conn.takeBytes()).toEqual({ up, down });
    expect(conn.takeBytes()).toEqual({ up: 0, down: 0 });
  });

  it('takeBytes returns deltas during a transfer', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const { client } = await request(port, 'KEY', Command.Connect, '127.0.0.1', origin.port);
    const conn = grant.opened[0]!;

    client.write(Buffer.alloc(1000));
    await client.read(1000);
    expect(conn.takeBytes()).toEqual({ up: 1000, down: 1000 });
    client.write(Buffer.alloc(10));
    await client.read(10);
    expect(conn.takeBytes()).toEqual({ up: 10, down: 10 });
  });

  it('forwards bytes pipelined with the handshake', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const client = await rawConnect(port);

    client.write(
      Buffer.concat([
        encodeGreeting([Method.UserPass]),
        encodeCredentials('KEY', ''),
        encodeRequest(Command.Connect, '127.0.0.1', origin.port),
        Buffer.from('early bytes'),
      ]),
    );
    expect([...(await client.read(4))]).toEqual([0x05, 0x02, 0x01, 0x00]);
    expect((await readReply(client)).reply).toBe(Reply.Succeeded);
    expect((await client.read(11)).toString()).toBe('early bytes');
    expect(grant.opened[0]!.bytesUp).toBe(11);
  });

  it('accepts a handshake that arrives one byte at a time', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    const handshake = Buffer.concat([
      encodeGreeting([Method.NoAuth, Method.UserPass]),
      encodeCredentials('KEY', 'pw'),
      encodeRequest(Command.Connect, 'localhost', origin.port),
    ]);

    for (const byte of handshake) {
      client.write([byte]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect([...(await client.read(4))]).toEqual([0x05, 0x02, 0x01, 0x00]);
    expect((await readReply(client)).reply).toBe(Reply.Succeeded);
    client.write(Buffer.from('ok'));
    expect((await client.read(2)).toString()).toBe('ok');
  });

  it('relays a request sent together with a half-close', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    client.socket.end(
      Buffer.concat([
        encodeGreeting([Method.UserPass]),
        encodeCredentials('KEY', ''),
        encodeRequest(Command.Connect, '127.0.0.1', origin.port),
        Buffer.from('last words'),
      ]),
    );
    const received = await client.closed();
    expect(received.subarray(0, 4)).toEqual(Buffer.from([0x05, 0x02, 0x01, 0x00]));
    expect(received[5]).toBe(Reply.Succeeded);
    expect(received.subarray(14).toString()).toBe('last words');
  });

  it('passes a half-close on and keeps the other direction open', async () => {
    const originServer = net.createServer({ allowHalfOpen: true }, (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => setTimeout(() => socket.end(Buffer.concat(chunks).reverse()), 50));
    });
    const originPort = await listen(originServer);
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });

    const socket = await socksConnect(port, 'KEY', '127.0.0.1', originPort);
    expect((await exchange(socket, Buffer.from('abc'))).toString()).toBe('cba');
  });

  it('passes a reset on as a reset', async () => {
    const originServer = net.createServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const originPort = await listen(originServer);
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });

    const socket = await socksConnect(port, 'KEY', '127.0.0.1', originPort);
    socket.write('x');
    const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNRESET');
  });

  it('works with a pino logger', async () => {
    const origin = await startEchoOrigin();
    const logger: Logger = pino({ level: 'silent' });
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }), logger });
    const socket = await socksConnect(port, 'KEY', '127.0.0.1', origin.port);
    expect((await exchange(socket, Buffer.from('x'))).toString()).toBe('x');
  });
});

describe('authentication', () => {
  it('passes a 255-byte username and an empty password to the gate', async () => {
    const origin = await startEchoOrigin();
    const username = `lpf_${'0123456789abcdef'.repeat(2)}-session-abc123-country-fr-`.padEnd(255, 'x');
    const gate = fakeGate({ [username]: fakeGrant() });
    const { port } = await startProxy({ gate });

    const { reply } = await request(port, username, Command.Connect, '127.0.0.1', origin.port);
    expect(reply.reply).toBe(Reply.Succeeded);
    expect(gate.calls).toEqual([username]);
  });

  it('passes the product through', async () => {
    const products: string[] = [];
    const { port } = await startProxy({
      product: 'dedicated',
      gate: { authorize: (_, product) => (products.push(product), { ok: false, reason: 'auth' }) },
    });
    const client = await rawConnect(port);
    client.write(encodeGreeting([Method.UserPass]));
    await client.read(2);
    client.write(encodeCredentials('KEY', ''));
    await client.read(2);
    expect(products).toEqual(['dedicated']);
  });

  it('answers wrong credentials with RFC 1929 failure and closes', async () => {
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    client.write(encodeGreeting([Method.UserPass]));
    expect([...(await client.read(2))]).toEqual([0x05, 0x02]);
    client.write(encodeCredentials('WRONG', 'x'));
    expect([...(await client.read(2))]).toEqual([0x01, 0x01]);
    expect(await client.closed()).toHaveLength(0);
  });

  it('lets a not_allowed key authenticate and refuses its request with REP 0x02', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ BROKE: 'not_allowed' }) });
    const { client, reply } = await request(port, 'BROKE', Command.Connect, '127.0.0.1', origin.port);
    expect(reply.reply).toBe(Reply.NotAllowed);
    await client.closed();
    expect(origin.peers).toHaveLength(0);
  });

  it('answers 0xFF to a client that does not offer username/password', async () => {
    const { port } = await startProxy({ gate: fakeGate({}) });
    const client = await rawConnect(port);
    client.write(encodeGreeting([Method.NoAuth, 0x01]));
    expect([...(await client.read(2))]).toEqual([0x05, 0xff]);
    expect(await client.closed()).toHaveLength(0);
  });
});

describe('refusals', () => {
  it.each([
    ['BIND', Command.Bind],
    ['UDP ASSOCIATE', Command.UdpAssociate],
    ['an unknown command', 0x09],
  ])('answers %s with REP 0x07', async (_, command) => {
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const { client, reply } = await request(port, 'KEY', command, '127.0.0.1', 1);
    expect(reply.reply).toBe(Reply.CommandNotSupported);
    await client.closed();
  });

  it('answers an unknown address type with REP 0x08', async () => {
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const client = await rawConnect(port);
    await authenticate(client, 'KEY');
    client.write([0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80]);
    expect((await readReply(client)).reply).toBe(Reply.AddressTypeNotSupported);
    await client.closed();
  });

  it('refuses a domain that resolves to loopback under the default policy with REP 0x02', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant() }),
      egress: createEgressPolicy([]),
      resolve: async () => ({ address: '127.0.0.1', family: 4 }),
    });
    const { reply } = await request(port, 'KEY', Command.Connect, 'evil.test', origin.port);
    expect(reply.reply).toBe(Reply.NotAllowed);
    expect(origin.peers).toHaveLength(0);
  });

  it('refuses private literals under the default policy with REP 0x02', async () => {
    const origin = await startEchoOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }), egress: createEgressPolicy([]) });
    for (const host of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '0.0.0.0']) {
      const { reply } = await request(port, 'KEY', Command.Connect, host, origin.port);
      expect(reply.reply, host).toBe(Reply.NotAllowed);
    }
    expect(origin.peers).toHaveLength(0);
  });

  it('answers a refused connection with REP 0x05', async () => {
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const { client, reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', await closedPort());
    expect(reply.reply).toBe(Reply.ConnectionRefused);
    await client.closed();
    await eventually(() => grant.closed.length === 1);
  });

  it('answers a failed name resolution with REP 0x04', async () => {
    const { port } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant() }),
      resolve: () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })),
    });
    const { reply } = await request(port, 'KEY', Command.Connect, 'nowhere.invalid', 80);
    expect(reply.reply).toBe(Reply.HostUnreachable);
  });

  it('answers REP 0x06 when the target is not reached in time', async () => {
    const { port } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant() }),
      connectTimeoutMs: 100,
      resolve: () => new Promise(() => {}),
    });
    const { client, reply } = await request(port, 'KEY', Command.Connect, 'slow.test', 80);
    expect(reply.reply).toBe(Reply.TtlExpired);
    await client.closed();
  });

  it('answers REP 0x01 when routing fails', async () => {
    const grant = { ...fakeGrant(), route: () => Promise.reject(new Error('no pool')) };
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', 80);
    expect(reply.reply).toBe(Reply.GeneralFailure);
  });
});

describe('limits', () => {
  it('refuses a CONNECT beyond the per-key cap with REP 0x02 and frees the slot on close', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant('capped');
    const other = fakeGrant('other');
    const { port, server } = await startProxy({
      gate: fakeGate({ A: grant, B: grant, C: other }),
      maxConnectionsPerKey: 2,
    });

    const first = await request(port, 'A', Command.Connect, '127.0.0.1', origin.port);
    const second = await request(port, 'B', Command.Connect, '127.0.0.1', origin.port);
    expect([first.reply.reply, second.reply.reply]).toEqual([Reply.Succeeded, Reply.Succeeded]);
    expect((await request(port, 'A', Command.Connect, '127.0.0.1', origin.port)).reply.reply).toBe(Reply.NotAllowed);
    expect((await request(port, 'C', Command.Connect, '127.0.0.1', origin.port)).reply.reply).toBe(Reply.Succeeded);
    expect(server.stats()).toMatchObject({ keys: 2, relaying: 3 });

    first.client.socket.destroy();
    await eventually(() => grant.closed.length === 1);
    expect((await request(port, 'A', Command.Connect, '127.0.0.1', origin.port)).reply.reply).toBe(Reply.Succeeded);
  });

  it('closes connections beyond the total cap at accept', async () => {
    const { port, server } = await startProxy({ gate: fakeGate({}), maxConnections: 1 });
    const first = await rawConnect(port);
    const second = await rawConnect(port);
    await second.closed();
    await eventually(() => server.stats().dropped === 1);
    first.write(encodeGreeting([Method.UserPass]));
    expect([...(await first.read(2))]).toEqual([0x05, 0x02]);
  });

  it('closes a relayed connection that stays idle', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }), idleTimeoutMs: 150 });
    const { client } = await request(port, 'KEY', Command.Connect, '127.0.0.1', origin.port);
    client.write(Buffer.from('a'));
    await client.read(1);
    await client.closed();
    await eventually(() => grant.closed.length === 1);
  });
});

describe('metering hooks', () => {
  it('destroy(reason) cuts an active transfer at once', async () => {
    const chunk = Buffer.alloc(64 * 1024);
    const originServer = net.createServer((socket) => {
      socket.on('error', () => {});
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
      };
      socket.on('drain', pump);
      pump();
    });
    const originPort = await listen(originServer);
    const grant = fakeGrant();
    const { port, server } = await startProxy({ gate: fakeGate({ KEY: grant }) });

    const socket = await socksConnect(port, 'KEY', '127.0.0.1', originPort);
    let received = 0;
    socket.on('data', (data: Buffer) => (received += data.length));
    socket.on('error', () => {});
    await eventually(() => received > 1_000_000);
    const conn = grant.opened[0]!;
    const cutAt = Date.now();
    conn.destroy('out of credit');
    await once(socket, 'close');
    expect(Date.now() - cutAt).toBeLessThan(1_000);
    await eventually(() => grant.closed.length === 1);
    expect(conn.bytesDown).toBeGreaterThanOrEqual(received);
    expect(server.stats()).toMatchObject({ connections: 0, keys: 0 });
    conn.destroy('again');
  });

  it('calls open once per accepted request and close once per open', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant, BROKE: 'not_allowed' }) });
    await request(port, 'KEY', Command.Connect, '127.0.0.1', await closedPort());
    const ok = await request(port, 'KEY', Command.Connect, '127.0.0.1', origin.port);
    await request(port, 'BROKE', Command.Connect, '127.0.0.1', origin.port);
    ok.client.socket.end();
    await eventually(() => grant.closed.length === 2);
    expect(grant.opened).toHaveLength(2);
    expect(new Set(grant.closed)).toEqual(new Set(grant.opened));
  });
});

describe('client going away', () => {
  it('while the target is being resolved leaves nothing behind', async () => {
    let answer: (address: { address: string; family: number }) => void = () => {};
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port, server } = await startProxy({
      gate: fakeGate({ KEY: grant }),
      resolve: () => new Promise((resolve) => (answer = resolve)),
    });
    const client = await rawConnect(port);
    await authenticate(client, 'KEY');
    client.write(encodeRequest(Command.Connect, 'origin.test', origin.port));
    await grant.nextOpen();
    // A reset: a FIN would be a half-close, which the proxy honours by dialling on.
    client.socket.resetAndDestroy();
    await eventually(() => grant.closed.length === 1);
    answer({ address: '127.0.0.1', family: 4 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(origin.peers).toHaveLength(0);
    expect(server.stats()).toMatchObject({ connections: 0, keys: 0 });
  });
});

describe('stop', () => {
  it('destroys open connections and resolves once they are closed', async () => {
    const origin = await startEchoOrigin();
    const grant = fakeGrant();
    const { port, server } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const relaying = await request(port, 'KEY', Command.Connect, '127.0.0.1', origin.port);
    const handshaking = await rawConnect(port);
    handshaking.write([0x05]);
    await eventually(() => server.stats().connections === 2);

    await server.stop();
    expect(server.stats()).toMatchObject({ connections: 0, relaying: 0, keys: 0 });
    expect(grant.closed).toHaveLength(1);
    await relaying.client.closed();
    await handshaking.closed();
    await expect(rawConnect(port)).rejects.toThrow();
  });
});
