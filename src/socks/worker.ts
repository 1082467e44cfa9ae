/**
 * The SOCKS5 worker thread: both SOCKS servers, the gate, metering and the upstream pools, on an
 * event loop and a heap of their own. The main thread keeps HTTP, GraphQL and the database; this
 * thread asks it for what it needs from the database (store.ts, through thread-calls.ts), hears
 * and raises events on its bus (bus.ts `bridgeBus`) and answers key checks from a mirror of its
 * key cache. It loads no Prisma client: its heap holds the relay and little else. Started and
 * stopped by worker-host.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bridgeBus } from '../bus.js';
import { createLogger, log, setLogger } from '../lib/logger.js';
import { callsOver } from '../lib/thread-calls.js';
import { createGate } from './gate.js';
import { createKeyStore } from './key-store.js';
import { createMeter } from './metering.js';
import { createEgressPolicy, createSocksServer, type Product } from './index.js';
import type { socksStore } from './store.js';
import { createUpstreams } from './upstreams.js';
import type { KeysMessage, SocksWorkerData, WorkerCommand, WorkerEvent } from './worker-protocol.js';

const data = workerData as SocksWorkerData;
const parent = parentPort!;
const send = (event: WorkerEvent) => parent.postMessage(event);

setLogger(createLogger(data.config.logLevel).child({ thread: 'socks' }));
const unbridge = bridgeBus(data.bus);

// The host sends the key cache's snapshot first: no connection is served before it is here.
const keys = createKeyStore();
const firstKeys = new Promise<void>((resolve) => {
  data.keys.on('message', (message: KeysMessage) => {
    keys.apply(message.changes);
    data.keys.postMessage(message.seq);
    resolve();
  });
});
data.keys.unref();

const store = callsOver<typeof socksStore>(data.calls);
const meter = createMeter({ store });
const upstreams = createUpstreams(store);
const { gate } = createGate(keys, meter, upstreams);
const egress = createEgressPolicy(data.config.egressAllow);
const servers = (Object.entries(data.ports) as [Product, number][]).map(([product, port]) => ({
  product,
  server: createSocksServer({ host: data.config.host, port, product, gate, egress, logger: log }),
}));

await firstKeys;
await meter.start();
await upstreams.start();
const ports: Partial<Record<Product, number>> = {};
for (const s of servers) ports[s.product] = (await s.server.start()).port;
send({ type: 'listening', ports });

parent.on('message', (command: WorkerCommand) => {
  if (command.type === 'stop') void stop();
});

async function stop(): Promise<void> {
  // SOCKS first: closing its connections hands their last bytes to the meter, whose final
  // flush then writes them (through the main thread, which waits for `stopped`).
  await Promise.all(servers.map((s) => s.server.stop()));
  upstreams.stop();
  await meter.stop();
  unbridge();
  data.keys.close();
  data.calls.close();
  send({ type: 'stopped' });
  parent.close();
}
