/**
 * "relais core, no metering" for `npm run bench:socks`: Relais's own SOCKS5 server
 * (src/socks createSocksServer, the same code the product runs) behind a trivial gate that
 * grants every username a direct route and charges nothing. Measured beside the real app, it
 * isolates what the gate, metering and the rest of the process cost. Started as a child
 * process by bench/socks.ts; prints {"port":N} once listening on 127.0.0.1.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { createEgressPolicy, createSocksServer, type Grant } from '../src/socks/index.js';

async function serve(): Promise<number> {
  // BENCH_CORE_HEAP=1 loads what the app's process holds besides the SOCKS server (the GraphQL
  // schema with its resolvers, Prisma's client, the services) without using it: the same code on
  // the app's heap, to tell what the heap costs per connection from what metering costs.
  if (process.env.BENCH_CORE_HEAP === '1') {
    const { loadConfig } = await import('../src/config.js');
    const { connectDatabase } = await import('../src/db.js');
    const { initRuntime } = await import('../src/runtime.js');
    const { buildYoga } = await import('../src/graphql/yoga.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const config = loadConfig({ DATA_DIR: mkdtempSync(`${tmpdir()}/relais-core-heap-`), LOG_LEVEL: 'silent' });
    initRuntime(config);
    await connectDatabase(config);
    buildYoga();
  }

  const grant: Grant = {
    key: 'bench',
    route: () => ({ kind: 'direct' }),
    open() {},
    close() {},
  };

  const server = createSocksServer({
    host: '127.0.0.1',
    port: 0,
    product: 'shared',
    gate: { authorize: () => ({ ok: true, grant }) },
    egress: createEgressPolicy(['127.0.0.0/8']),
    // One key carries the whole load here; the product's per-key cap (256) is not under test.
    maxConnectionsPerKey: 100_000,
  });
  return (await server.start()).port;
}

if (!isMainThread) {
  parentPort!.postMessage(await serve());
} else {
  // BENCH_CORE_WORKER=1 serves from a worker thread with the app's young generation, as the
  // app runs its SOCKS servers: what the thread costs, apart from metering.
  const port =
    process.env.BENCH_CORE_WORKER === '1'
      ? await new Promise<number>((resolve, reject) => {
          const worker = new Worker(`import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(import.meta.url)});`, {
            eval: true,
            // The app's figure (worker-host.ts YOUNG_GENERATION_MB), not imported: that module would
            // load Prisma into this process.
            resourceLimits: { maxYoungGenerationSizeMb: 64 },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        })
      : await serve();
  console.log(JSON.stringify({ port }));
  process.on('disconnect', () => process.exit(0));
  // A clean exit on SIGTERM, so that `node --cpu-prof` writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}
