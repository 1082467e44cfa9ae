/**
 * What the main thread and the SOCKS worker thread send each other (worker-host.ts, worker.ts).
 * Types only: the worker must not load the database's modules.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { ProxyKeyChange } from './key-store.js';
import type { Product } from './types.js';

export interface SocksWorkerData {
  config: Config;
  /** The products to serve and the port of each (0: any free port). */
  ports: Partial<Record<Product, number>>;
  /** bus.ts `bridgeBus`: the main thread's bus (and through it, Redis). */
  bus: MessagePort;
  /** The active keys, mirrored from the main thread's key cache: `KeysMessage` in, its `seq` back once applied. */
  keys: MessagePort;
  /** thread-calls.ts: store.ts `socksStore`, run by the main thread, which has the database. */
  calls: MessagePort;
}

/** Worker → main, on `parentPort`. */
export type WorkerEvent = { type: 'listening'; ports: Partial<Record<Product, number>> } | { type: 'stopped' };

/** Main → worker, on the worker. */
export type WorkerCommand = { type: 'stop' };

export interface KeysMessage {
  seq: number;
  changes: ProxyKeyChange[];
}
