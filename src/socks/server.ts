import { promises as dns } from 'node:dns';
import net, { type AddressInfo } from 'node:net';
import { SocksConnection, type ConnectionContext } from './connection.js';
import type { Logger, Resolver, SocksServer, SocksServerOptions } from './types.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, isLevelEnabled: () => false };

const lookup: Resolver = (hostname) => dns.lookup(hostname);

/**
 * A SOCKS5 server that accepts only username/password authentication and the CONNECT command.
 * Who may connect, and how each connection leaves, is decided by `options.gate`.
 */
export function createSocksServer(options: SocksServerOptions): SocksServer {
  const logger = options.logger ?? silent;
  const maxPerKey = options.maxConnectionsPerKey ?? 256;
  const perKey = new Map<string, number>();
  const connections = new Set<SocksConnection>();
  let nextId = 1;
  let accepted = 0;
  let dropped = 0;
  let onDrained: (() => void) | undefined;

  const ctx: ConnectionContext = {
    product: options.product,
    gate: options.gate,
    egress: options.egress,
    resolve: options.resolve ?? lookup,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
    logger,
    debug: logger.isLevelEnabled?.('debug') ?? true,
    claimSlot(key) {
      const open = perKey.get(key) ?? 0;
      if (open >= maxPerKey) return false;
      perKey.set(key, open + 1);
      return true;
    },
    releaseSlot(key) {
      const open = perKey.get(key)! - 1;
      if (open === 0) perKey.delete(key);
      else perKey.set(key, open);
    },
    finished(conn) {
      connections.delete(conn);
      if (connections.size === 0) onDrained?.();
    },
  };

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accepted++;
    connections.add(new SocksConnection(nextId++, socket, ctx));
  });
  // Past the cap, Node closes new connections as it accepts them: cheaper than a SOCKS refusal.
  server.maxConnections = options.maxConnections ?? 10_000;
  server.on('drop', () => dropped++);

  // One sweep for every connection's deadlines, instead of a timer per connection and phase.
  const sweepMs = Math.max(10, Math.min(1000, Math.min(ctx.handshakeTimeoutMs, ctx.connectTimeoutMs, ctx.idleTimeoutMs) / 5));
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const conn of connections) conn.sweep(now);
  };

  return {
    start() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: options.host, port: options.port }, () => {
          server.off('error', reject);
          server.on('error', (err) => logger.error({ err }, 'SOCKS listener error'));
          sweeper = setInterval(sweep, sweepMs).unref();
          const { port } = server.address() as AddressInfo;
          logger.info({ host: options.host, port, product: options.product }, 'SOCKS server listening');
          resolve({ port });
        });
      });
    },

    async stop() {
      clearInterval(sweeper);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const drained = connections.size === 0 ? undefined : new Promise<void>((resolve) => (onDrained = resolve));
      for (const conn of connections) conn.destroy('server stopping');
      await Promise.all([closed, drained]);
      onDrained = undefined;
    },

    stats() {
      let relaying = 0;
      for (const conn of connections) if (conn.phase === 'relaying') relaying++;
      return { connections: connections.size, relaying, keys: perKey.size, accepted, dropped };
    },
  };
}
