/**
 * Loopback benchmark of the SOCKS server, each role in its own process so that the proxy
 * has a core to itself where there are enough:
 *
 *   npx tsx test/socks/bench.ts [GiB=1] [connections=20000]
 *
 * Prints single-stream download and upload throughput, direct and through the proxy, and
 * CONNECT+echo+close round trips per second, each with the CPU time the proxy spent: on a
 * machine where the client and origin compete with the proxy for cores, that is the figure to
 * compare.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createEgressPolicy } from '../../src/socks/egress.js';
import { encodeCredentials, encodeGreeting, encodeRequest, Command, Method } from '../../src/socks/protocol.js';
import { createSocksServer } from '../../src/socks/server.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const HANDSHAKE_REPLY_BYTES = 2 + 2 + 10;

type Message = { port: number } | { cpuSeconds: number };

async function listenOn(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Three services: /dev/zero-like source, sink, echo. */
async function origin(bytes: number): Promise<void> {
  const source = net.createServer({ noDelay: true }, (socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += CHUNK.length;
        if (!socket.write(CHUNK)) return;
      }
      socket.end();
    };
    socket.on('drain', pump);
    socket.on('error', () => {});
    pump();
  });
  const sink = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.resume();
    socket.on('end', () => socket.end());
  });
  const echo = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  const ports = await Promise.all([listenOn(source), listenOn(sink), listenOn(echo)]);
  process.send!({ port: ports[0] });
  process.send!({ port: ports[1] });
  process.send!({ port: ports[2] });
}

async function proxy(): Promise<void> {
  const grant = { key: 'bench', route: () => ({ kind: 'direct' as const }), open() {}, close() {} };
  const server = createSocksServer({
    host: '127.0.0.1',
    port: 0,
    product: 'shared',
    gate: { authorize: () => ({ ok: true, grant }) },
    egress: createEgressPolicy(['127.0.0.0/8']),
    maxConnectionsPerKey: 100_000,
  });
  const { port } = await server.start();
  let last = process.cpuUsage();
  process.on('message', () => {
    const used = process.cpuUsage(last);
    last = process.cpuUsage();
    process.send!({ cpuSeconds: (used.user + used.system) / 1e6 });
  });
  process.send!({ port });
}

function start(role: string, ...args: string[]): { child: ChildProcess; next: () => Promise<Message> } {
  const child = fork(fileURLToPath(import.meta.url), [role, ...args], { execArgv: ['--import', 'tsx'] });
  const queue: Message[] = [];
  let waiter: ((m: Message) => void) | undefined;
  child.on('message', (m: Message) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else queue.push(m);
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<Message>((r) => (waiter = r)));
  return { child, next };
}

const portOf = async (next: () => Promise<Message>) => ((await next()) as { port: number }).port;

/**
 * Connects directly, or through the proxy when `proxyPort` is set, and returns the socket
 * paused, with any payload that came along with the SOCKS replies put back.
 */
async function open(targetPort: number, proxyPort?: number): Promise<net.Socket> {
  const socket = net.connect(proxyPort ?? targetPort, '127.0.0.1');
  socket.setNoDelay(true);
  socket.pause();
  await once(socket, 'connect');
  if (proxyPort === undefined) return socket;
  socket.write(
    Buffer.concat([
      encodeGreeting([Method.UserPass]),
      encodeCredentials('bench', ''),
      encodeRequest(Command.Connect, '127.0.0.1', targetPort),
    ]),
  );
  await new Promise<void>((resolve) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got < HANDSHAKE_REPLY_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      if (got > HANDSHAKE_REPLY_BYTES) socket.unshift(chunk.subarray(chunk.length - (got - HANDSHAKE_REPLY_BYTES)));
      resolve();
    };
    socket.on('data', onData);
    socket.resume();
  });
  return socket;
}

async function download(port: number, proxyPort?: number): Promise<number> {
  const socket = await open(port, proxyPort);
  const started = process.hrtime.bigint();
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.resume();
  await once(socket, 'end');
  socket.destroy();
  return received / 2 ** 20 / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function upload(port: number, bytes: number, proxyPort?: number): Promise<number> {
  const socket = await open(port, proxyPort);
  socket.resume();
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    if (!socket.write(CHUNK)) await once(socket, 'drain');
  }
  socket.end();
  await once(socket, 'close');
  return bytes / 2 ** 20 / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function connectionRate(echoPort: number, proxyPort: number, total: number, concurrency = 64): Promise<number> {
  let remaining = total;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (remaining-- > 0) {
        const socket = await open(echoPort, proxyPort);
        socket.write('x');
        socket.resume();
        await once(socket, 'data');
        socket.destroy();
      }
    }),
  );
  return total / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function main(): Promise<void> {
  const gib = Number(process.argv[2] ?? 1);
  const connections = Number(process.argv[3] ?? 20_000);
  const bytes = gib * 2 ** 30;
  const originProcess = start('origin', String(bytes));
  const [sourcePort, sinkPort, echoPort] = [
    await portOf(originProcess.next),
    await portOf(originProcess.next),
    await portOf(originProcess.next),
  ];
  const proxyProcess = start('proxy');
  const proxyPort = await portOf(proxyProcess.next);
  const proxyCpu = async () => {
    proxyProcess.child.send('cpu');
    return ((await proxyProcess.next()) as { cpuSeconds: number }).cpuSeconds;
  };
  const fmt = (n: number) => n.toFixed(0).padStart(6);

  for (let round = 1; round <= 3; round++) {
    const directDown = await download(sourcePort);
    await proxyCpu();
    const proxiedDown = await download(sourcePort, proxyPort);
    const downCpu = (await proxyCpu()) / gib;
    const directUp = await upload(sinkPort, bytes);
    await proxyCpu();
    const proxiedUp = await upload(sinkPort, bytes, proxyPort);
    const upCpu = (await proxyCpu()) / gib;
    console.log(
      `round ${round}: download direct ${fmt(directDown)} MiB/s, proxied ${fmt(proxiedDown)} MiB/s (proxy CPU ${downCpu.toFixed(2)} s/GiB)` +
        ` | upload direct ${fmt(directUp)} MiB/s, proxied ${fmt(proxiedUp)} MiB/s (proxy CPU ${upCpu.toFixed(2)} s/GiB)`,
    );
  }
  await proxyCpu();
  const rate = await connectionRate(echoPort, proxyPort, connections);
  const perConnection = ((await proxyCpu()) / connections) * 1e6;
  console.log(
    `${connections} CONNECT + echo + close through the proxy: ${fmt(rate)} connections/s (proxy CPU ${perConnection.toFixed(0)} µs each)`,
  );
  originProcess.child.kill();
  proxyProcess.child.kill();
}

const role = process.argv[2];
if (role === 'origin' || role === 'proxy') {
  // Children go with their parent, however it ends.
  process.on('disconnect', () => process.exit(0));
  await (role === 'origin' ? origin(Number(process.argv[3])) : proxy());
} else {
  await main();
}
