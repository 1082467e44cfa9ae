import { prisma, Prisma } from '../../db.js';
import type { Role } from '../../generated/prisma/client.js';
import { log } from '../../lib/logger.js';
import { sha256 } from '../../lib/secrets.js';
import { bus } from '../../bus.js';

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
}

const TTL_MS = 30_000;
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 100_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

const entries = new Map<string, Entry>();
const lastUsedWrites = new Map<number, number>();

/**
 * Resolves a raw key to its owner from memory: at most one database read per key per TTL,
 * none for repeats. Revocation, regeneration and updates drop entries through the bus.
 */
export async function lookupKey(raw: string): Promise<CachedKey | null> {
  const hash = sha256(raw);
  const now = Date.now();
  const hit = entries.get(hash);
  if (hit && now - hit.loadedAt < (hit.key ? TTL_MS : NEGATIVE_TTL_MS)) return usable(hit.key, now);
  const row = await prisma.apiKey.findUnique({
    where: { hash },
    include: { user: { select: { role: true, disabledAt: true } } },
  });
  const key: CachedKey | null =
    row && row.active && !row.user.disabledAt
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
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  entries.set(hash, { key, loadedAt: now });
  return usable(key, now);
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

export function forgetKeyId(id: number): void {
  for (const [hash, entry] of entries) if (entry.key?.id === id) entries.delete(hash);
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
      forgetKeyId(next.value.apiKeyId);
    }
  })();
  return () => {
    active = false;
    void iterator.return?.();
  };
}
