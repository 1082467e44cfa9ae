/**
 * The database work of the SOCKS side, done where the database is: the main thread runs these
 * for the worker thread (thread-calls.ts; worker-host.ts answers them), so that the worker holds
 * no Prisma client. Everything in and out is plain data (numbers of micro-USD, no Decimal).
 */
import { prisma } from '../db.js';
import type { TrafficProduct } from '../generated/prisma/client.js';
import { formatMoney, type Money } from '../lib/money.js';
import { microOf } from '../lib/micro.js';
import type { Remote } from '../lib/thread-calls.js';
import { runtime } from '../runtime.js';
import type { CachedKey, KeyChange } from '../modules/keys/key-cache.js';
import { listTrafficPrices, pricingFor } from '../modules/pricing/pricing.service.js';
import { limitsOf, recordTraffic, spentByWindow } from '../modules/usage/usage.service.js';
import { WINDOWS, type Window } from '../modules/usage/windows.js';
import type { ProxyKey, ProxyKeyChange } from './key-store.js';
import type { Product, UpstreamRoute } from './types.js';

export type PerWindowMicro = Record<Window, number>;
export type LimitsMicro = Record<Window, number | null>;

/** An account as the meter starts from it. */
export interface MeteredUser {
  balanceMicro: number;
  /** The newest ledger row: balance events up to it are already in `balanceMicro`. */
  lastTransactionId: number;
  limits: LimitsMicro;
  spent: PerWindowMicro;
  /** The pricing tier's rate × 10^6. */
  rateMicro: number;
}

export interface UpstreamExit extends UpstreamRoute {
  readonly id: number;
  readonly product: Product;
  readonly country: string | null;
  healthy: boolean;
}

const micro = (m: Money): number => microOf(formatMoney(m));

const limitsMicro = (row: Parameters<typeof limitsOf>[0]): LimitsMicro => {
  const l = limitsOf(row);
  return Object.fromEntries(WINDOWS.map((w) => [w, l[w] && micro(l[w])])) as LimitsMicro;
};

async function spentMicro(userId: number, keyId?: number): Promise<PerWindowMicro> {
  const s = await spentByWindow(userId, keyId);
  return { daily: micro(s.daily), weekly: micro(s.weekly), monthly: micro(s.monthly) };
}

export const socksStore = {
  recordTraffic,

  async meteredUser(userId: number): Promise<MeteredUser> {
    const [user, spent, pricing, last] = await Promise.all([
      prisma.user.findUniqueOrThrow({ where: { id: userId }, select: { balance: true, settings: true } }),
      spentMicro(userId),
      pricingFor(userId),
      prisma.ledgerTransaction.findFirst({ where: { userId }, orderBy: { id: 'desc' }, select: { id: true } }),
    ]);
    return { balanceMicro: micro(user.balance), lastTransactionId: last?.id ?? 0, limits: limitsMicro(user.settings), spent, rateMicro: micro(pricing.rate) };
  },

  keySpent: (userId: number, keyId: number): Promise<PerWindowMicro> => spentMicro(userId, keyId),

  /** The key's limits now; null when the key is gone. */
  async keyLimits(keyId: number): Promise<LimitsMicro | null> {
    const row = await prisma.apiKey.findUnique({ where: { id: keyId }, select: { dailyLimit: true, weeklyLimit: true, monthlyLimit: true } });
    return row && limitsMicro(row);
  },

  /** Price per GB of each traffic product, in micro-USD. */
  async trafficPrices(): Promise<[TrafficProduct, number][]> {
    return (await listTrafficPrices()).map((p) => [p.product, micro(p.pricePerGb)]);
  },

  /** The active exits of active pools (passwords decrypted), and the keys pinned to one. */
  async upstreamExits(): Promise<{ exits: UpstreamExit[]; pins: [keyId: number, upstreamId: number][] }> {
    const rows = await prisma.upstream.findMany({ where: { active: true, pool: { active: true } }, include: { pool: true }, orderBy: { id: 'asc' } });
    const { secrets } = runtime();
    const exits = rows
      .filter((r) => r.pool.product !== 'browser')
      .map((r) => ({
        kind: 'upstream' as const,
        id: r.id,
        host: r.host,
        port: r.port,
        username: r.username ?? undefined,
        password: r.password ? secrets.decrypt(r.password) : undefined,
        product: r.pool.product as Product,
        country: r.countryCode?.toUpperCase() ?? null,
        healthy: r.healthy,
      }));
    const pinned = await prisma.apiKey.findMany({ where: { pinnedUpstreamId: { not: null }, active: true }, select: { id: true, pinnedUpstreamId: true } });
    return { exits, pins: pinned.map((p) => [p.id, p.pinnedUpstreamId!]) };
  },

  async pinUpstream(keyId: number, upstreamId: number): Promise<void> {
    await prisma.apiKey.update({ where: { id: keyId }, data: { pinnedUpstreamId: upstreamId } });
  },

  /** Records a health check's outcome: a failure counts and keeps its reason. */
  async upstreamHealth(upstreamId: number, failure: string | null): Promise<void> {
    await prisma.upstream.update({
      where: { id: upstreamId },
      data: failure === null ? { healthy: true, lastError: null, lastCheckedAt: new Date() } : { healthy: false, failCount: { increment: 1 }, lastError: failure, lastCheckedAt: new Date() },
    });
  },
};

/** `socksStore` as the worker thread calls it (thread-calls.ts). */
export type SocksStore = Remote<typeof socksStore>;

const proxyKeyOf = (key: CachedKey | null | undefined): ProxyKey | null | undefined =>
  key && { id: key.id, userId: key.userId, scopes: key.scopes, expiresAt: key.expiresAt, limits: limitsMicro(key) };

/** The key cache's changes as the SOCKS side keeps them (key-store.ts). */
export const proxyKeyChanges = (changes: readonly KeyChange[]): ProxyKeyChange[] => changes.map(([hash, key]) => [hash, proxyKeyOf(key)]);
