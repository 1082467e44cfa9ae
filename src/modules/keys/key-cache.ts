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

function remember(hash: string, key: CachedKey | null, loadedAt: number, pinned = false): void {
  if (entries.size >= MAX_ENTRIES && !entries.has(hash)) drop(entries.keys().next().value!);
  const before = entries.get(hash);
  entries.set(hash, { key, loadedAt, pinned });
  if (before?.pinned && !pinned) changed(hash, undefined);
  else if (pinned && !(before?.pinned && sameOrBothNull(before.key, key))) changed(hash, key);
}

function drop(hash: string): void {
  const before = entries.get(hash);
  entries.delete(hash);
  if (before?.pinned) changed(hash, undefined);
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
  remember(hash, key, now, key !== null);
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
  for (const row of rows) remember(row.hash, toCached(row), now, true);
  return rows.length;
}

const sameLimit = (a: Prisma.Decimal | null, b: Prisma.Decimal | null) => (a === null || b === null ? a === b : a.equals(b));
const sameOrBothNull = (a: CachedKey | null, b: CachedKey | null) => (a === null || b === null ? a === b : sameKey(a, b));
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
      drop(hash);
      changes.push({ apiKeyId: id, userId, change: freshIds.has(id) && next === undefined ? 'regenerated' : 'revoked', retiredHashes: [hash] });
    } else if (!sameKey(entry.key, next)) {
      changes.push({ apiKeyId: id, userId, change: 'updated', retiredHashes: [] });
    } else {
      fresh.delete(hash);
    }
  }
  for (const [hash, key] of fresh) {
    remember(hash, key, now, true);
    if (key && !knownIds.has(key.id)) changes.push({ apiKeyId: key.id, userId: key.userId, change: 'created', retiredHashes: [] });
  }
  for (const change of changes) publishLocal('key:changed', change);
  return changes.length;
}

/** Puts a key (just created or changed) in memory at once, so it works on the next packet, in every thread. */
export async function refreshKey(hash: string): Promise<void> {
  await reloadKey(hash);
  await mirrored();
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

/** Forgets key values that stopped working; resolves once no thread of this process accepts them. */
export function forgetKeyHashes(hashes: readonly string[]): Promise<void> {
  for (const h of hashes) drop(h);
  return mirrored();
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
      await forgetKeyHashes(next.value.retiredHashes);
      await refreshKeyId(next.value.apiKeyId).catch((err: unknown) => log.warn({ err }, 'key cache refresh failed'));
    }
  })();
  return () => {
    active = false;
    void iterator.return?.();
  };
}

// ---------------------------------------------------------------------------------------------
// Mirrors: the SOCKS worker thread answers from a copy of the active keys this thread keeps
// (src/socks/key-store.ts).
// ---------------------------------------------------------------------------------------------

/** A change of what `peekKeyHash` answers for a hash: the key, or undefined once it answers nothing. */
export type KeyChange = [hash: string, key: CachedKey | null | undefined];

/** Receives each batch of changes; resolves once the copy has them. */
export type KeyMirror = (changes: KeyChange[]) => Promise<void>;

const mirrors = new Set<KeyMirror>();
let unsent: KeyChange[] = [];
let inFlight: Promise<void> = Promise.resolve();

function changed(hash: string, key: CachedKey | null | undefined): void {
  if (!mirrors.size) return;
  // Changes made in one turn (a resync, a preload) go out together, whoever changed them.
  if (unsent.push([hash, key]) === 1) queueMicrotask(() => void mirrored());
}

/** Sends the changes made so far to the mirrors; resolves once every mirror has applied them. */
function mirrored(): Promise<void> {
  if (unsent.length) {
    const batch = unsent;
    unsent = [];
    inFlight = Promise.all([...mirrors].map((mirror) => mirror(batch))).then(() => {});
  }
  return inFlight;
}

/**
 * Keeps `mirror` told of every change to the active keys, starting from the returned snapshot
 * (taken at the same moment, so nothing falls between the two). Returns the snapshot and what
 * stops it.
 */
export function addKeyMirror(mirror: KeyMirror): { snapshot: KeyChange[]; stop: () => void } {
  void mirrored();
  mirrors.add(mirror);
  const snapshot: KeyChange[] = [];
  for (const [hash, entry] of entries) if (entry.pinned) snapshot.push([hash, entry.key]);
  return { snapshot, stop: () => mirrors.delete(mirror) };
}
