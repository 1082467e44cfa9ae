import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Command, Reply } from '../../src/socks/protocol.js';
import type { UpstreamRoute } from '../../src/socks/types.js';
import {
  closedPort,
  eventually,
  exchange,
  fakeGate,
  fakeGrant,
  listen,
  request,
  socksConnect,
  startEchoOrigin,
  startProxy,
} from './helpers.js';

function upstreamRoute(port: number, username = 'up-user', password = 'up-pass'): UpstreamRoute {
  return { kind: 'upstream', id: 42, host: '127.0.0.1', port, username, password };
}

/** A second instance of the server plays the upstream, with its own gate. */
async function startUpstream() {
  const grant = fakeGrant('upstream-account');
  const upstream = await startProxy({ gate: fakeGate({ 'up-user': grant }) });
  return { ...upstream, grant };
}

describe('upstream routes', () => {
  it('relays through the upstream, both hops counting the same bytes', async () => {
    const origin = await startEchoOrigin();
    const upstream = await startUpstream();
    const front = fakeGrant('customer', upstreamRoute(upstream.port));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }) });

    const socket = await socksConnect(port, 'KEY', '127.0.0.1', origin.port);
    const payload = Buffer.alloc(200_000, 3);
    expect((await exchange(socket, payload)).equals(payload)).toBe(true);

    await eventually(() => front.closed.length === 1 && upstream.grant.closed.length === 1);
    for (const conn of [front.closed[0]!, upstream.grant.closed[0]!]) {
      expect(conn).toMatchObject({ bytesUp: payload.length, bytesDown: payload.length });
    }
    expect(upstream.grant.closed[0]!.target).toBe(`127.0.0.1:${origin.port}`);
    expect(front.failures).toEqual([]);
  });

  it('leaves domain names to the upstream to resolve', async () => {
    const origin = await startEchoOrigin();
    const upstreamResolved: string[] = [];
    const upstreamGrant = fakeGrant('upstream-account');
    const upstream = await startProxy({
      gate: fakeGate({ 'up-user': upstreamGrant }),
      resolve: async (name) => (upstreamResolved.push(name), { address: '127.0.0.1', family: 4 }),
    });
    const { port } = await startProxy({
      gate: fakeGate({ KEY: fakeGrant('customer', upstreamRoute(upstream.port)) }),
      resolve: () => Promise.reject(new Error('the front must not resolve')),
    });

    const socket = await socksConnect(port, 'KEY', 'origin.test', origin.port);
    expect((await exchange(socket, Buffer.from('named'))).toString()).toBe('named');
    expect(upstreamResolved).toEqual(['origin.test']);
  });

  it('forwards bytes the target sends first, along with the upstream reply', async () => {
    const banner = Buffer.from('220 ready\r\n');
    const originServer = net.createServer((socket) => socket.end(banner));
    const originPort = await listen(originServer);
    const upstream = await startUpstream();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant('customer', upstreamRoute(upstream.port)) }) });

    const { client, reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', originPort);
    expect(reply.reply).toBe(Reply.Succeeded);
    expect((await client.closed()).equals(banner)).toBe(true);
  });

  it('reports a dead upstream and answers REP 0x01', async () => {
    const front = fakeGrant('customer', upstreamRoute(await closedPort()));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }) });

    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', 80);
    expect(reply.reply).toBe(Reply.GeneralFailure);
    expect(front.failures).toEqual([42]);
  });

  it('reports an upstream that rejects its credentials', async () => {
    const upstream = await startUpstream();
    const front = fakeGrant('customer', upstreamRoute(upstream.port, 'up-user-typo'));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }) });

    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', 80);
    expect(reply.reply).toBe(Reply.GeneralFailure);
    expect(front.failures).toEqual([42]);
  });

  it('reports an upstream that accepts but never answers, at the connect timeout', async () => {
    const silent = net.createServer(() => {});
    const silentPort = await listen(silent);
    const front = fakeGrant('customer', upstreamRoute(silentPort));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }), connectTimeoutMs: 500 });

    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', 80);
    expect(reply.reply).toBe(Reply.TtlExpired);
    // The TCP connection to it succeeded: the target may just be slow, so this is not held against it.
    expect(front.failures).toEqual([]);
  });

  it('passes on what the upstream says about the target without blaming it', async () => {
    const upstream = await startUpstream();
    const front = fakeGrant('customer', upstreamRoute(upstream.port));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }) });

    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', await closedPort());
    expect(reply.reply).toBe(Reply.ConnectionRefused);
    expect(front.failures).toEqual([]);
  });

  it('checks IP literals against its own egress policy before asking the upstream', async () => {
    const upstream = await startUpstream();
    const front = fakeGrant('customer', upstreamRoute(upstream.port));
    const { port } = await startProxy({ gate: fakeGate({ KEY: front }), egress: { isAllowed: () => false } });

    const { reply } = await request(port, 'KEY', Command.Connect, '127.0.0.1', 80);
    expect(reply.reply).toBe(Reply.NotAllowed);
    expect(upstream.server.stats().accepted).toBe(0);
  });
});
