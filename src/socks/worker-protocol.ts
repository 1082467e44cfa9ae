/** What the main thread and the SOCKS worker thread send each other (worker-host.ts, worker.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config.js';
import { Prisma } from '../db.js';
import type { CachedKey, KeyChange } from '../modules/keys/key-cache.js';
import { recordTraffic } from '../modules/usage/usage.service.js';
import type { Product } from './types.js';

export interface SocksWorkerData {
  config: Config;
  /** The products to serve and the port of each (0: any free port). */
  ports: Partial<Record<Product, number>>;
  /** db-bridge.ts: the main thread's database. */
  db: MessagePort;
  /** bus.ts `bridgeBus`: the main thread's bus (and through it, Redis). */
  bus: MessagePort;
  /** The active keys, mirrored from the main thread's key cache: `KeysMessage` in, its `seq` back once applied. */
  keys: MessagePort;
  /** thread-calls.ts: `MainThreadCalls`, run by the main thread. */
  calls: MessagePort;
}

/**
 * Work the main thread does for the worker in one call instead of one round trip per query:
 * the meter's per-second write.
 */
export const mainThreadCalls = { recordTraffic };
export type MainThreadCalls = typeof mainThreadCalls;

/** Worker → main, on `parentPort`. */
export type WorkerEvent = { type: 'listening'; ports: Partial<Record<Product, number>> } | { type: 'stopped' };

/** Main → worker, on the worker. */
export type WorkerCommand = { type: 'stop' };

export interface KeysMessage {
  seq: number;
  changes: WireKeyChange[];
}

/** A `CachedKey` as it crosses threads: structured clone keeps Dates, not Decimals. */
type WireKey = Omit<CachedKey, 'dailyLimit' | 'weeklyLimit' | 'monthlyLimit'> & {
  dailyLimit: string | null;
  weeklyLimit: string | null;
  monthlyLimit: string | null;
};

export type WireKeyChange = [hash: string, key: WireKey | null | undefined];

const limitOut = (d: Prisma.Decimal | null) => (d === null ? null : d.toString());
const limitIn = (s: string | null) => (s === null ? null : new Prisma.Decimal(s));

export const keyChangesToWire = (changes: readonly KeyChange[]): WireKeyChange[] =>
  changes.map(([hash, key]) => [
    hash,
    key ? { ...key, dailyLimit: limitOut(key.dailyLimit), weeklyLimit: limitOut(key.weeklyLimit), monthlyLimit: limitOut(key.monthlyLimit) } : key,
  ]);

export const keyChangesFromWire = (changes: readonly WireKeyChange[]): KeyChange[] =>
  changes.map(([hash, key]) => [
    hash,
    key ? { ...key, dailyLimit: limitIn(key.dailyLimit), weeklyLimit: limitIn(key.weeklyLimit), monthlyLimit: limitIn(key.monthlyLimit) } : key,
  ]);
