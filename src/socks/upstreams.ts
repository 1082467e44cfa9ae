import net from 'node:net';
import { bus } from '../bus.js';
import { log } from '../lib/logger.js';
import type { SocksStore, UpstreamExit as Upstream } from './store.js';
import type { Product, Route } from './types.js';

export interface RouteRequest {
  product: Product;
  keyId: number;
  country: string | null;
  session: string | null;
  lifetimeMinutes: number;
}

export class NoExitError extends Error {}

const DIRECT: Route = { kind: 'direct' };
const RELOAD_MS = 30_000;
const CHECK_MS = 15_000;
/** A failed exit is probed this soon, then every CHECK_MS. */
const RECHECK_MS = 2_000;

/**
 * Upstream SOCKS5 exits from the database. With none for a product, traffic goes direct.
 * Shared: round robin per connection over healthy exits (a session keeps its exit for its
 * lifetime). Dedicated: each key is pinned to one exit, remembered in the database. An exit
 * that fails is skipped until a health check (a SOCKS5 greeting) succeeds again.
 */
export function createUpstreams(store: Pick<SocksStore, 'upstreamExits' | 'pinUpstream' | 'upstreamHealth'>) {
  let all: Upstream[] = [];
  let cursor = 0;
  const sessions = new Map<string, { id: number; until: number }>();
  const pins = new Map<number, number>();
  let timers: NodeJS.Timeout[] = [];
  let stopListening = () => {};

  async function load(): Promise<void> {
    const loaded = await store.upstreamExits();
    all = loaded.exits;
    pins.clear();
    for (const [keyId, upstreamId] of loaded.pins) pins.set(keyId, upstreamId);
  }

  const candidates = (req: RouteRequest) =>
    all.filter((u) => u.product === req.product && u.healthy && (req.country === null || u.country === req.country));

  function route(req: RouteRequest): Route {
    if (!all.some((u) => u.product === req.product)) {
      if (req.country !== null) throw new NoExitError(`no exit in ${req.country}`);
      return DIRECT;
    }
    const pool = candidates(req);
    if (!pool.length) throw new NoExitError(req.country ? `no healthy exit in ${req.country}` : 'no healthy exit');
    const now = Date.now();
    if (req.product === 'dedicated') {
      const pinned = pool.find((u) => u.id === pins.get(req.keyId));
      if (pinned) return pinned;
      const chosen = pool[req.keyId % pool.length]!;
      pins.set(req.keyId, chosen.id);
      store.pinUpstream(req.keyId, chosen.id).catch((err: unknown) => log.warn({ err }, 'could not pin exit'));
      return chosen;
    }
    const sessionKey = req.session ? `${req.keyId}:${req.session}:${req.country ?? ''}` : null;
    if (sessionKey) {
      const held = sessions.get(sessionKey);
      const exit = held && held.until > now ? pool.find((u) => u.id === held.id) : undefined;
      if (exit) return exit;
    }
    const chosen = pool[cursor++ % pool.length]!;
    if (sessionKey) sessions.set(sessionKey, { id: chosen.id, until: now + req.lifetimeMinutes * 60_000 });
    return chosen;
  }

  function markFailed(id: number | string, reason = 'connection failed'): void {
    const u = all.find((x) => x.id === Number(id));
    if (!u || !u.healthy) return;
    u.healthy = false;
    log.warn({ upstream: u.id, host: u.host, port: u.port, reason }, 'upstream marked unhealthy');
    setTimeout(() => void check().catch((err: unknown) => log.warn({ err }, 'upstream check failed')), RECHECK_MS).unref();
    store.upstreamHealth(u.id, reason).catch((err: unknown) => log.warn({ err }, 'could not record upstream failure'));
  }

  /** A SOCKS5 greeting offering username/password: healthy when the exit answers with a method. */
  function probe(u: Upstream): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: u.host, port: u.port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(5000, () => done(false));
      socket.once('error', () => done(false));
      socket.once('connect', () => socket.write(Buffer.from([5, 2, 0, 2])));
      socket.once('data', (d) => done(d.length >= 2 && d[0] === 5 && d[1] !== 0xff));
    });
  }

  async function check(): Promise<void> {
    for (const u of all.filter((x) => !x.healthy)) {
      if (!(await probe(u))) continue;
      u.healthy = true;
      log.info({ upstream: u.id }, 'upstream healthy again');
      await store.upstreamHealth(u.id, null);
    }
    const now = Date.now();
    for (const [k, s] of sessions) if (s.until <= now) sessions.delete(k);
  }

  return {
    async start(): Promise<void> {
      await load();
      const iterator = bus.subscribe('upstreams:changed')[Symbol.asyncIterator]();
      stopListening = () => void iterator.return?.();
      void (async () => {
        while (!(await iterator.next()).done) await load().catch((err: unknown) => log.warn({ err }, 'upstream reload failed'));
      })();
      const safe = (fn: () => Promise<void>, what: string) => () => void fn().catch((err: unknown) => log.warn({ err }, what));
      timers = [setInterval(safe(load, 'upstream reload failed'), RELOAD_MS), setInterval(safe(check, 'upstream check failed'), CHECK_MS)];
      timers.forEach((t) => t.unref());
    },
    check,
    route,
    markFailed,
    stop(): void {
      timers.forEach(clearInterval);
      stopListening();
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
