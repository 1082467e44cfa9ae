import { prisma } from '../../db.js';
import { bus } from '../../bus.js';
import { log } from '../../lib/logger.js';
import { peekKeyHash } from '../keys/key-cache.js';
import type { Viewer } from '../../graphql/context.js';

/**
 * Ends long-lived connections (WebSocket, SSE subscriptions) when the credential they were
 * opened with stops being valid: its API key is revoked or regenerated, its session ends, or
 * it expires. One bus listener per process dispatches to the watches of that credential.
 */
export interface CredentialWatch {
  /** Aborted (once) when the credential stops being valid. */
  readonly signal: AbortSignal;
  /** Stops watching; call when the connection or subscription ends first. */
  dispose(): void;
}

interface Watch {
  controller: AbortController;
  id: string;
  timer: NodeJS.Timeout | null;
}

const watches = new Map<string, Set<Watch>>();
/** setTimeout's longest delay (about 24.8 days); longer expiries re-arm. */
const MAX_DELAY_MS = 2 ** 31 - 1;

const credentialId = (viewer: Viewer): string =>
  viewer.via === 'apiKey' ? `key:${viewer.apiKeyId}` : `session:${viewer.sessionId}`;

function end(id: string, reason: string): void {
  const set = watches.get(id);
  if (!set) return;
  watches.delete(id);
  for (const watch of set) finish(watch, reason);
}

function finish(watch: Watch, reason: string): void {
  if (watch.timer) clearTimeout(watch.timer);
  watch.timer = null;
  watch.controller.abort(new Error(reason));
}

function armExpiry(watch: Watch, expiresAt: number): void {
  const delay = expiresAt - Date.now();
  if (delay <= 0) return forget(watch, 'credential expired');
  watch.timer = setTimeout(() => armExpiry(watch, expiresAt), Math.min(delay, MAX_DELAY_MS));
  watch.timer.unref();
}

function forget(watch: Watch, reason?: string): void {
  const set = watches.get(watch.id);
  if (set?.delete(watch) && set.size === 0) watches.delete(watch.id);
  if (reason) finish(watch, reason);
  else if (watch.timer) clearTimeout(watch.timer);
}

export function watchCredential(viewer: Viewer): CredentialWatch {
  const watch: Watch = { controller: new AbortController(), id: credentialId(viewer), timer: null };
  let set = watches.get(watch.id);
  if (!set) watches.set(watch.id, (set = new Set()));
  set.add(watch);
  if (viewer.expiresAt) armExpiry(watch, viewer.expiresAt.getTime());
  recheck(watch, viewer);
  return { signal: watch.controller.signal, dispose: () => forget(watch) };
}

/**
 * The credential was checked a moment before the watch began: a revocation in between raised
 * its event before anyone listened. Check again now that the watch is in place.
 */
function recheck(watch: Watch, viewer: Viewer): void {
  if (viewer.via === 'apiKey') {
    if (viewer.apiKeyHash !== undefined && peekKeyHash(viewer.apiKeyHash) === null) forget(watch, 'API key revoked');
    return;
  }
  prisma.session
    .findUnique({ where: { id: viewer.sessionId }, select: { revokedAt: true } })
    .then((session) => {
      if (!session || session.revokedAt) forget(watch, 'session ended');
    })
    .catch((err: unknown) => log.warn({ err }, 'credential re-check failed'));
}

/** Listens for key and session events (from this instance or, through Redis, any other). */
export function startCredentialWatch(): () => void {
  const stops = [
    listen(bus.subscribe('key:changed'), (e) => {
      if (e.change === 'revoked' || e.change === 'regenerated') end(`key:${e.apiKeyId}`, `API key ${e.change}`);
    }),
    listen(bus.subscribe('session:ended'), (e) => {
      for (const id of e.sessionIds) end(`session:${id}`, 'session ended');
    }),
  ];
  return () => stops.forEach((stop) => stop());
}

function listen<T>(iterable: AsyncIterable<T>, handler: (value: T) => void): () => void {
  const iterator = iterable[Symbol.asyncIterator]();
  void (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      handler(next.value);
    }
  })();
  return () => void iterator.return?.();
}

/**
 * Ends the watches of sessions revoked while their events may have been missed (the bus lost
 * Redis for a while). Keys need no such pass: the key cache raises the changes it finds.
 */
export async function recheckSessions(): Promise<number> {
  const ids = [...watches.keys()].filter((id) => id.startsWith('session:')).map((id) => id.slice('session:'.length));
  if (!ids.length) return 0;
  const ended = await prisma.session.findMany({ where: { id: { in: ids }, revokedAt: { not: null } }, select: { id: true } });
  for (const session of ended) end(`session:${session.id}`, 'session ended');
  return ended.length;
}

/** Credentials watched right now (for tests and metrics). */
export function watchedCredentials(): number {
  return watches.size;
}
