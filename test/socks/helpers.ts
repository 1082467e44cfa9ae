import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { SocksClient } from 'socks';
import { onTestFinished } from 'vitest';
import { createEgressPolicy } from '../../src/socks/egress.js';
import { createSocksServer } from '../../src/socks/server.js';
import {
  encodeCredentials,
  encodeGreeting,
  encodeRequest,
  Method,
  parseReply,
  type SocksReply,
} from '../../src/socks/protocol.js';
import type {
  AuthDecision,
  Grant,
  MeteredConnection,
  Route,
  SocksGate,
  SocksServer,
  SocksServerOptions,
  UpstreamId,
} from '../../src/socks/types.js';

export const LOOPBACK_EGRESS = createEgressPolicy(['127.0.0.0/8', '::1/128']);

export interface FakeGrant extends Grant {
  readonly opened: MeteredConnection[];
  readonly closed: MeteredConnection[];
  readonly failures: UpstreamId[];
  /** Resolves with the next connection passed to `open`. */
  nextOpen(): Promise<MeteredConnection>;
  /** Resolves with the next connection passed to `close`. */
  nextClose(): Promise<MeteredConnection>;
}

export function fakeGrant(key = 'key-1', route: Route = { kind: 'direct' }): FakeGrant {
  const opened: MeteredConnection[] = [];
  const closed: MeteredConnection[] = [];
  const failures: UpstreamId[] = [];
  let openWaiters: ((conn: MeteredConnection) => void)[] = [];
  let closeWaiters: ((conn: MeteredConnection) => void)[] = [];
  return {
    key,
    opened,
    closed,
    failures,
    route: () => route,
    open(conn) {
      opened.push(conn);
      const waiters = openWaiters;
      openWaiters = [];
      for (const w of waiters) w(conn);
    },
    close(conn) {
      closed.push(conn);
      const waiters = closeWaiters;
      closeWaiters = [];
      for (const w of waiters) w(conn);
    },
    reportUpstreamFailure(id) {
      failures.push(id);
    },
    nextOpen: () => new Promise((resolve) => openWaiters.push(resolve)),
    nextClose: () => new Promise((resolve) => closeWaiters.push(resolve)),
  };
}

/** Answers from a table of usernames; anyone else fails authentication. */
export function fakeGate(table: Record<string, Grant | 'not_allowed'>): SocksGate & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    authorize(username): AuthDecision {
      calls.push(username);
      const entry = table[username];
      if (entry === undefined) return { ok: false, reason: 'auth' };
      if (entry === 'not_allowed') return { ok: false, reason: 'not_allowed' };
      return { ok: true, grant: entry };
    },
  };
}

/** Starts a proxy on 127.0.0.1 that may reach loopback; it is stopped when the test ends. */
export async function startProxy(
  options: Partial<SocksServerOptions> & Pick<SocksServerOptions, 'gate'>,
): Promise<{ port: number; server: SocksServer }> {
  const server = createSocksServer({
    host: '127.0.0.1',
    port: 0,
    product: 'shared',
    egress: LOOPBACK_EGRESS,
    ...options,
  });
  const { port } = await server.start();
  onTestFinished(() => server.stop());
  return { port, server };
}

export async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  onTestFinished(() => {
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** An origin that echoes; `peers` holds the remote ports of the sockets it accepted. */
export async function startEchoOrigin(host = '127.0.0.1'): Promise<{ port: number; peers: number[] }> {
  const peers: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    peers.push(socket.remotePort!);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  const port = await listen(server, host);
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
  });
  return { port, peers };
}

/** A port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RawClient {
  readonly socket: net.Socket;
  write(bytes: Buffer | number[]): void;
  /** The next `n` bytes; rejects if the connection closes first. */
  read(n: number): Promise<Buffer>;
  /** Resolves once the proxy has closed the connection, with whatever arrived unread. */
  closed(): Promise<Buffer>;
}

export async function rawConnect(port: number): Promise<RawClient> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  onTestFinished(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  let received = Buffer.alloc(0);
  let isClosed = false;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    wake();
  });
  socket.on('close', () => {
    isClosed = true;
    wake();
  });
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise<void>((resolve) => (wake = resolve));
  };
  return {
    socket,
    write: (bytes) => socket.write(Buffer.from(bytes)),
    async read(n) {
      await until(() => received.length >= n || isClosed);
      if (received.length < n) throw new Error(`closed after ${received.length} of ${n} bytes`);
      const out = received.subarray(0, n);
      received = received.subarray(n);
      return out;
    },
    async closed() {
      await until(() => isClosed);
      return received;
    },
  };
}

/** Greets and authenticates, expecting both to succeed. */
export async function authenticate(client: RawClient, username: string, password = ''): Promise<void> {
  client.write(encodeGreeting([Method.UserPass]));
  expectBytes(await client.read(2), [0x05, 0x02]);
  client.write(encodeCredentials(username, password));
  expectBytes(await client.read(2), [0x01, 0x00]);
}

export async function readReply(client: RawClient): Promise<SocksReply> {
  let buf = await client.read(5);
  for (;;) {
    const parsed = parseReply(buf);
    if (parsed.status === 'complete') return parsed.value;
    if (parsed.status === 'invalid') throw new Error(`invalid reply: ${parsed.reason}`);
    buf = Buffer.concat([buf, await client.read(1)]);
  }
}

/** Authenticates and sends a request, returning the reply. */
export async function request(
  port: number,
  username: string,
  command: number,
  host: string,
  targetPort: number,
): Promise<{ client: RawClient; reply: SocksReply }> {
  const client = await rawConnect(port);
  await authenticate(client, username);
  client.write(encodeRequest(command, host, targetPort));
  return { client, reply: await readReply(client) };
}

function expectBytes(actual: Buffer, expected: number[]): void {
  if (!actual.equals(Buffer.from(expected))) {
    throw new Error(`expected ${Buffer.from(expected).toString('hex')}, got ${actual.toString('hex')}`);
  }
}

/** A CONNECT through the proxy with the `socks` client. */
export async function socksConnect(
  proxyPort: number,
  userId: string,
  host: string,
  port: number,
  password = '',
): Promise<net.Socket> {
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: { host: '127.0.0.1', port: proxyPort, type: 5, userId, password },
    destination: { host, port },
    timeout: 5_000,
  });
  onTestFinished(() => {
    socket.destroy();
  });
  return socket;
}

/** Sends `payload`, half-closes, and collects everything until the peer closes. */
export async function exchange(socket: net.Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(payload);
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

/** Polls `condition` every 10 ms for up to `ms`. */
export async function eventually(condition: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
