/**
 * "relais core, no metering" for `npm run bench:socks`: Relais's own SOCKS5 server
 * (src/socks createSocksServer, the same code the product runs) behind a trivial gate that
 * grants every username a direct route and charges nothing. Measured beside the real app, it
 * isolates what the gate, metering and the rest of the process cost. Started as a child
 * process by bench/socks.ts; prints {"port":N} once listening on 127.0.0.1.
 */
import { createEgressPolicy, createSocksServer, type Grant } from '../src/socks/index.js';

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

const { port } = await server.start();
console.log(JSON.stringify({ port }));
process.on('disconnect', () => process.exit(0));
// A clean exit on SIGTERM, so that `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => process.exit(0));
