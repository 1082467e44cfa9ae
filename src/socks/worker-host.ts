/**
 * Runs the SOCKS5 side of Relais (servers, gate, metering, upstreams: worker.ts) in a worker
 * thread, and serves it what lives in this thread: the database (store.ts), the bus and the key
 * cache.
 *
 * Why a thread: every relayed connection allocates, and a heap that also holds the GraphQL
 * schema, Prisma and the embedded database makes each of its garbage collections dearer; the
 * per-second metering flush and GraphQL work would also sit on the relay's event loop. In a
 * thread of its own the relay keeps a small heap and a loop that answers SOCKS5 only, and the
 * process can use a second core.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { bridgeBus } from '../bus.js';
import type { Config } from '../config.js';
import { log } from '../lib/logger.js';
import { answerCalls } from '../lib/thread-calls.js';
import { addKeyMirror, type KeyChange } from '../modules/keys/key-cache.js';
import { proxyKeyChanges, socksStore } from './store.js';
import type { Product } from './types.js';
import type { KeysMessage, SocksWorkerData, WorkerCommand, WorkerEvent } from './worker-protocol.js';

const ENTRY = new URL('./worker-entry.mjs', import.meta.url);
/** How long a stopping worker may take to close its connections and write their last usage. */
const STOP_TIMEOUT_MS = 30_000;
/** A worker that died is started again after this long, doubling while restarts keep failing. */
const RESTART_DELAY_MS = 1000;
const RESTART_DELAY_MAX_MS = 30_000;
/**
 * Every relayed connection allocates ~20 KiB that dies young. A larger young generation than
 * V8's default means fewer scavenges: 20,000 connections cost 14 scavenges and ~200 ms instead
 * of 30 and ~260 ms (pauses of ~14 ms instead of ~9), for ~40 MB more memory at most.
 */
const YOUNG_GENERATION_MB = 64;

export type SocksWorkerState = 'starting' | 'running' | 'restarting' | 'stopped';

export interface SocksWorker {
  /** Starts the thread; resolves with the port of each product once they all listen. */
  start(): Promise<Partial<Record<Product, number>>>;
  /** Stops it: connections closed, their usage written, the thread gone. */
  stop(): Promise<void>;
  /** Ends the thread at once, as a crash would (no final flush); it is started again like after one. */
  terminate(): Promise<void>;
  state(): SocksWorkerState;
}

export function createSocksWorker(config: Config, ports: Partial<Record<Product, number>>): SocksWorker {
  let state: SocksWorkerState = 'stopped';
  let current: Running | null = null;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelay = RESTART_DELAY_MS;
  /** Ports the first start got, kept on restarts (ephemeral ones included). */
  let bound = ports;

  async function launch(): Promise<Partial<Record<Product, number>>> {
    const running = run(config, bound, onDeath);
    current = running;
    const listening = await running.listening;
    bound = listening;
    state = 'running';
    restartDelay = RESTART_DELAY_MS;
    return listening;
  }

  function onDeath(err: Error | null): void {
    if (state === 'stopped') return;
    log.error({ err, inMs: restartDelay }, 'SOCKS worker died; restarting it');
    current = null;
    state = 'restarting';
    const delay = restartDelay;
    restartDelay = Math.min(restartDelay * 2, RESTART_DELAY_MAX_MS);
    restartTimer = setTimeout(() => {
      launch().catch((e: unknown) => {
        log.error({ err: e }, 'SOCKS worker failed to restart');
        onDeath(e instanceof Error ? e : new Error(String(e)));
      });
    }, delay);
  }

  return {
    async start() {
      state = 'starting';
      try {
        return await launch();
      } catch (err) {
        state = 'stopped';
        await current?.kill();
        current = null;
        throw err;
      }
    },
    async stop() {
      state = 'stopped';
      clearTimeout(restartTimer);
      await current?.stop();
      current = null;
    },
    async terminate() {
      await current?.crash();
    },
    state: () => state,
  };
}

interface Running {
  listening: Promise<Partial<Record<Product, number>>>;
  stop(): Promise<void>;
  /** Terminates the thread without telling the host it meant to: it restarts it. */
  crash(): Promise<void>;
  kill(): Promise<void>;
}

/** One worker thread, from its start to its exit, with what this thread serves it. */
function run(config: Config, ports: Partial<Record<Product, number>>, onDeath: (err: Error | null) => void): Running {
  const busChannel = new MessageChannel();
  const keysChannel = new MessageChannel();
  const callsChannel = new MessageChannel();
  const stopAnswering = answerCalls(callsChannel.port1, socksStore);
  const unbridge = bridgeBus(busChannel.port1);
  let exited = false;

  // The key mirror: each batch of changes is waited for, so a key created or revoked through the
  // API is known to the proxy before the mutation answers.
  let seq = 0;
  const acks = new Map<number, () => void>();
  const keys = keysChannel.port1;
  keys.on('message', (ack: number) => {
    acks.get(ack)?.();
    acks.delete(ack);
  });
  keys.unref();
  const sendKeys = (changes: KeyChange[]): Promise<void> =>
    new Promise((resolve) => {
      const message: KeysMessage = { seq: ++seq, changes: proxyKeyChanges(changes) };
      acks.set(message.seq, resolve);
      keys.postMessage(message);
    });
  const mirror = addKeyMirror((changes) => (exited ? Promise.resolve() : sendKeys(changes)));

  const data: SocksWorkerData = { config, ports, bus: busChannel.port2, keys: keysChannel.port2, calls: callsChannel.port2 };
  const worker = new Worker(ENTRY, {
    workerData: data,
    transferList: [busChannel.port2, keysChannel.port2, callsChannel.port2],
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  });
  void sendKeys(mirror.snapshot);

  let stopping = false;
  let onStopped: (() => void) | undefined;
  let resolveListening!: (ports: Partial<Record<Product, number>>) => void;
  let rejectListening!: (err: Error) => void;
  const listening = new Promise<Partial<Record<Product, number>>>((resolve, reject) => {
    resolveListening = resolve;
    rejectListening = reject;
  });
  let started = false;
  let failure: Error | null = null;

  worker.on('message', (event: WorkerEvent) => {
    if (event.type === 'listening') {
      started = true;
      resolveListening(event.ports);
    } else if (event.type === 'stopped') {
      onStopped?.();
    }
  });
  worker.on('error', (err) => (failure = err));
  const exit = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      exited = true;
      mirror.stop();
      for (const ack of acks.values()) ack();
      acks.clear();
      unbridge();
      keys.close();
      stopAnswering();
      const err = failure ?? (code === 0 ? null : new Error(`SOCKS worker exited with code ${code}`));
      if (!started) rejectListening(err ?? new Error('SOCKS worker exited before listening'));
      else if (!stopping) onDeath(err ?? new Error('SOCKS worker exited'));
      resolve();
    });
  });

  return {
    listening,
    async stop() {
      if (exited) return;
      stopping = true;
      const stopped = new Promise<void>((resolve) => (onStopped = resolve));
      worker.postMessage({ type: 'stop' } satisfies WorkerCommand);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)));
      if (await Promise.race([stopped.then(() => false), exit.then(() => false), timedOut])) {
        log.warn('SOCKS worker did not stop in time; terminating it');
      }
      clearTimeout(timer);
      await worker.terminate();
      await exit;
    },
    async crash() {
      await worker.terminate();
      await exit;
    },
    async kill() {
      stopping = true;
      await worker.terminate();
      await exit;
    },
  };
}
