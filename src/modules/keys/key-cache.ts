import { prisma, Prisma } from '../../db.js';
import type { Role } from '../../generated/prisma/client.js';
import { log } from '../../lib/logger.js';
import { sha256 } from '../../lib/secrets.js';
import { bus, publishLocal, type KeyChangedEvent } from '../../bus.js';

/** What a request or a SOCKS5 connection needs to know about a key, without the database. */
export interface CachedKey {
  id: number;
  userId: number;
  role: Role;
  scopes: readonly string[];
  expiresAt: Date | null;
  dailyLimit: Prisma.Decimal | null;
  weeklyLimit: Prisma.Decimal | null;
  monthlyLimit: Prisma.Decimal | null;
}

interface Entry {
  key: CachedKey | null;
  loadedAt: number;
  /** Kept until changed (active keys): not subject to the TTL. */
  pinned?: boolean;
}

const TTL_MS = 30_000;
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 100_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

const entries = new Map<string, Entry>();
const lastUsedWrites = new Map<number, number>();

type KeyRow = Prisma.ApiKeyGetPayload<{ include: { user: { select: { role: true; disabledAt: true } } } }>;
const withOwner = { user: { select: { role: true, disabledAt: true } } } as const;

const toCached = (row: KeyRow | null): CachedKey | null =>
  row && row.active && row.kind === 'proxy' && !row.user.disabledAt
    ? {
        id: row.id,
        userId: row.userId,
        role: row.user.role,
        scopes: row.scopes,
        expiresAt: row.expiresAt,
        dailyLimit: row.dailyLimit,
        weeklyLimit: row.weeklyLimit,
        monthlyLimit: row.monthlyLimit,
      }
    : null;

function remember(hash: string, key: CachedKey | null, loadedAt: number): void {
  if (entries.size >= MAX_ENTRIES && !entries.has(hash)) entries.delete(entries.keys().next().value!);
  entries.set(hash, { key, loadedAt });
}

/**
 * Resolves a raw key to its owner from memory: at most one database read per key per TTL,
 * none for repeats. Revocation, regeneration and updates drop entries at once.
 */
export async function lookupKey(raw: string): Promise<CachedKey | null> {
  const hash = sha256(raw);
  const now = Date.now();
  const hit = entries.get(hash);
  if (hit && (hit.pinned || now - hit.loadedAt < (hit.key ? TTL_MS : NEGATIVE_TTL_MS))) return usable(hit.key, now);
  return reloadKey(hash, now);
}

async function reloadKey(hash: string, now = Date.now()): Promise<CachedKey | null> {
  const key = toCached(await prisma.apiKey.findUnique({ where: { hash }, include: withOwner }));
  remember(hash, key, now);
  const entry = entries.get(hash)!;
  entry.pinned = key !== null;
  return usable(key, now);
}

/**
 * The synchronous lookup the SOCKS5 gate uses: every active key is held in memory (loaded at
 * start, kept current by the keys service and the bus), so a miss means "no such key".
 */
export function peekKey(raw: string): CachedKey | null {
  return peekKeyHash(sha256(raw));
}

export function peekKeyHash(hash: string): CachedKey | null {
  const hit = entries.get(hash);
  return hit?.pinned ? usable(hit.key, Date.now()) : null;
}

/** Loads every active key into memory; afterwards they stay there until changed. */
export async function preloadKeys(): Promise<number> {
  const rows = await prisma.apiKey.findMany({ where: { active: true, kind: 'proxy' }, include: withOwner });
  const now = Date.now();
  for (const row of rows) {
    remember(row.hash, toCached(row), now);
    entries.get(row.hash)!.pinned = true;
  }
  return rows.length;
}

const sameLimit = (a: Prisma.Decimal | null, b: Prisma.Decimal | null) => (a === null || b === null ? a === b : a.equals(b));
const sameKey = (a: CachedKey, b: CachedKey) =>
  a.id === b.id &&
  a.userId === b.userId &&
  a.role === b.role &&
  a.scopes.join(',') === b.scopes.join(',') &&
  a.expiresAt?.getTime() === b.expiresAt?.getTime() &&
  sameLimit(a.dailyLimit, b.dailyLimit) &&
  sameLimit(a.weeklyLimit, b.weeklyLimit) &&
  sameLimit(a.monthlyLimit, b.monthlyLimit);

/**
 * Reloads every active key after key events may have been missed (the bus lost Redis for a
 * while). Each difference found is raised on this process's bus as the key:changed event it
 * missed, so open connections of a revoked key are cut and subscribers hear of it.
 */
export async function resyncKeys(): Promise<number> {
  const rows = await prisma.apiKey.findMany({ where: { active: true, kind: 'proxy' }, include: withOwner });
  const now = Date.now();
  const fresh = new Map(rows.map((row) => [row.hash, toCached(row)]));
  const freshIds = new Set(rows.map((row) => row.id));
  const knownIds = new Set<number>();
  const changes: KeyChangedEvent[] = [];
  for (const [hash, entry] of entries) {
    if (!entry.pinned || !entry.key) continue;
    const { id, userId } = entry.key;
    knownIds.add(id);
    const next = fresh.get(hash);
    if (!next) {
      entries.delete(hash);
      changes.push({ apiKeyId: id, userId, change: freshIds.has(id) && next === undefined ? 'regenerated' : 'revoked', retiredHashes: [hash] });
    } else if (!sameKey(entry.key, next)) {
      changes.push({ apiKeyId: id, userId, change: 'updated', retiredHashes: [] });
    } else {
      fresh.delete(hash);
    }
  }
  for (const [hash, key] of fresh) {
    remember(hash, key, now);
    entries.get(hash)!.pinned = true;
    if (key && !knownIds.has(key.id)) changes.push({ apiKeyId: key.id, userId: key.userId, change: 'created', retiredHashes: [] });
  }
  for (const change of changes) publishLocal('key:changed', change);
  return changes.length;
}

/** Puts a key (just created or changed) in memory at once, so it works on the next packet. */
export async function refreshKey(hash: string): Promise<void> {
  await reloadKey(hash);
}

function usable(key: CachedKey | null, now: number): CachedKey | null {
  return key && (!key.expiresAt || key.expiresAt.getTime() > now) ? key : null;
}

/** Records use of a key, writing last_used_at at most once a minute per key. */
export function touchKey(id: number): void {
  const now = Date.now();
  if (now - (lastUsedWrites.get(id) ?? 0) < LAST_USED_WRITE_INTERVAL_MS) return;
  lastUsedWrites.set(id, now);
  prisma.apiKey.update({ where: { id }, data: { lastUsedAt: new Date(now) } }).catch((err: unknown) => {
    log.warn({ err, apiKeyId: id }, 'could not record key use');
  });
}

export function forgetKeyHashes(hashes: readonly string[]): void {
  for (const h of hashes) entries.delete(h);
}

async function refreshKeyId(id: number): Promise<void> {
  const row = await prisma.apiKey.findUnique({ where: { id }, select: { hash: true } });
  if (row) await reloadKey(row.hash);
}

/** Keeps the cache in step with key changes published on the bus (by this or another instance). */
export function startKeyCacheInvalidation(): () => void {
  let active = true;
  const iterator = bus.subscribe('key:changed')[Symbol.asyncIterator]();
  void (async () => {
    while (active) {
      const next = await iterator.next();
      if (next.done) return;
      forgetKeyHashes(next.value.retiredHashes);
      await refreshKeyId(next.value.apiKeyId).catch((err: unknown) => log.warn({ err }, 'key cache refresh failed'));
    }
  })();
  return () => {
    active = false;
    void iterator.return?.();
  };
}
