import { randomBytes } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
// graphql-yoga's pub/sub from its own package: the SOCKS worker thread loads this module, and
// need not load the rest of yoga (5 MB of its heap).
import { createPubSub } from '@graphql-yoga/subscription';
import { Redis } from 'ioredis';
import { log } from './lib/logger.js';

/**
 * Domain events, typed per channel. Channels keyed by user id carry that user's events;
 * subscriptions, webhooks and cache invalidation consume them.
 */
export interface KeyChangedEvent {
  apiKeyId: number;
  userId: number;
  change: 'created' | 'updated' | 'revoked' | 'regenerated';
  /** SHA-256 of key values that stopped working, for cache invalidation. */
  retiredHashes: string[];
}

export interface BalanceChangedEvent {
  userId: number;
  balance: string;
  transactionId: number;
  type: 'deposit' | 'consumption' | 'adjustment';
  /** Signed, exact ("-0.001250"). */
  amount: string;
  apiKeyId: number | null;
}

/** Payloads cross Redis as JSON: numbers, strings, booleans, null, arrays and plain objects only. */
export type BusChannels = {
  /** Prices, tiers or a user's grid changed (userId null: everyone). */
  'pricing:changed': [{ userId: number | null }];
  /** Upstream exits were added or removed. */
  'upstreams:changed': [Record<string, never>];
  /** Account-wide limits changed. */
  'settings:changed': [{ userId: number }];
  'key:changed': [KeyChangedEvent];
  'balance:changed': [BalanceChangedEvent];
  /** Traffic written by a metering flush: one per key and product, at most one a second per key. */
  'usage:updated': [UsageUpdatedEvent];
  /** Sessions revoked (logout, password change or reset, refresh-token reuse): their tokens stop working. */
  'session:ended': [{ userId: number; sessionIds: string[] }];
  'proxy:status': [ProxyStatusEvent];
  'order:status': [OrderStatusEvent];
  'deposit:status': [DepositStatusEvent];
};

export interface UsageUpdatedEvent {
  userId: number;
  apiKeyId: number;
  product: 'shared' | 'dedicated' | 'browser';
  /** Destination to client. */
  bytesIn: string;
  /** Client to destination. */
  bytesOut: string;
  /** Money charged for these bytes, exact ("0.001250"). */
  cost: string;
  /** What the key may still spend: min(balance, account and key limits left). */
  remainingCredit: string;
  /** ISO-8601: when the bytes were measured. */
  at: string;
}

export interface ProxyStatusEvent {
  proxyId: number;
  userId: number;
  status: string;
  previousStatus: string | null;
  at: string;
}

export interface OrderStatusEvent {
  orderId: number;
  userId: number;
  status: string;
  previousStatus: string | null;
  at: string;
}

export interface DepositStatusEvent {
  transactionId: number;
  userId: number;
  status: 'pending' | 'confirmed' | 'failed';
  confirmations: number;
  txHash: string | null;
  chainId: number | null;
  at: string;
}

type Listener = (event: { type: string; detail: unknown }) => void;
type ListenerArg = Listener | { handleEvent: Listener } | null;

/** Listeners of this process, per topic. */
const listeners = new Map<string, Set<Listener>>();
/** Redis connections this process publishes to (one per Redis URL and prefix). */
const links = new Map<string, RedisLink>();
/** Other threads of this process whose buses are bridged to this one (`bridgeBus`): local, like this thread's listeners. */
const threads = new Set<MessagePort>();

/** Hands an event to the other threads of this process, except the one it came from. */
function shareWithThreads(topic: string, json: string, from?: MessagePort): void {
  for (const port of threads) if (port !== from) port.postMessage({ c: topic, p: json });
}

function deliver(topic: string, detail: unknown): void {
  const set = listeners.get(topic);
  if (!set) return;
  for (const listener of set) {
    try {
      listener({ type: topic, detail });
    } catch (err) {
      log.error({ err, channel: topic }, 'bus listener failed');
    }
  }
}

function serialize(topic: string, detail: unknown): string | null {
  try {
    return JSON.stringify(detail ?? null);
  } catch (err) {
    log.error({ err, channel: topic }, 'bus event dropped: its payload is not JSON');
    return null;
  }
}

const toListener = (callback: ListenerArg): Listener | null =>
  callback === null ? null : typeof callback === 'function' ? callback : callback.handleEvent.bind(callback);

/**
 * The event target behind `bus`: every event reaches this process's listeners at once (so a
 * Redis outage never hides an instance's own events from itself) and is sent to every
 * configured Redis link for the other instances.
 */
const target = {
  addEventListener(type: string, callback: ListenerArg) {
    const listener = toListener(callback);
    if (!listener) return;
    let set = listeners.get(type);
    if (!set) listeners.set(type, (set = new Set()));
    set.add(listener);
  },
  removeEventListener(type: string, callback: ListenerArg) {
    const listener = toListener(callback);
    const set = listeners.get(type);
    if (!listener || !set) return;
    set.delete(listener);
    if (!set.size) listeners.delete(type);
  },
  dispatchEvent(event: { type: string; detail: unknown }) {
    const json = serialize(event.type, event.detail);
    if (json === null) return false;
    // Listeners here get the payload as the other instances do: parsed from JSON.
    if (listeners.has(event.type)) deliver(event.type, JSON.parse(json));
    shareWithThreads(event.type, json);
    for (const link of links.values()) link.send(event.type, json);
    return true;
  },
};

export const bus = createPubSub<BusChannels>({ eventTarget: target as never });

/**
 * Calls `handler` synchronously with every event of `channel` this process hears, without the
 * async iterator `bus.subscribe` wraps each listener in: for consumers that fan one listener
 * out to many (live subscriptions). Returns the function that stops it.
 */
export function onBus<C extends keyof BusChannels>(channel: C, handler: (event: BusChannels[C][0]) => void): () => void {
  const listener: Listener = (event) => handler(event.detail as BusChannels[C][0]);
  target.addEventListener(channel, listener);
  return () => target.removeEventListener(channel, listener);
}

/** Raises an event in this process only, all its threads (state re-synchronised after a Redis reconnect). */
export function publishLocal<C extends keyof BusChannels>(channel: C, ...args: BusChannels[C]): void {
  const json = serialize(channel, args[0]);
  if (json === null) return;
  if (listeners.has(channel)) deliver(channel, JSON.parse(json));
  shareWithThreads(channel, json);
}

/**
 * Joins this thread's bus with another thread's over `port` (both threads call it): each hears
 * the other's events as its own, and events of a thread without Redis reach the other instances
 * through the one that has it. Returns what undoes it.
 */
export function bridgeBus(port: MessagePort): () => void {
  threads.add(port);
  port.on('message', ({ c: topic, p: json }: { c: string; p: string }) => {
    if (listeners.has(topic)) deliver(topic, JSON.parse(json));
    shareWithThreads(topic, json, port);
    for (const link of links.values()) link.send(topic, json);
  });
  // The bridge alone must not keep a thread alive.
  port.unref();
  return () => {
    threads.delete(port);
    port.close();
  };
}

export type RedisHealth = 'ok' | 'unreachable';

export interface BusConnection {
  /** Null without Redis; otherwise whether this instance both publishes and receives (bounded to 2 s). */
  redisHealth(): Promise<RedisHealth | null>;
  close(): Promise<void>;
}

export interface BusOptions {
  redisUrl: string | undefined;
  /** Namespaces the Redis channel, so deployments sharing one Redis do not hear each other. */
  redisPrefix: string;
  /** Runs after the connection to Redis came back: events of the gap may have been missed. */
  onReconnect?: () => Promise<void> | void;
}

const STARTUP_WAIT_MS = 2000;
const PING_TIMEOUT_MS = 2000;

/**
 * Connects the bus to Redis when configured: events published here reach every instance using
 * the same Redis and prefix. Waits (at most 2 s) for the first subscription, so a start-up
 * reads its state only once events from the others are heard; without Redis the process
 * starts anyway and catches up when it connects. Close it at shutdown.
 */
export async function connectBus(options: BusOptions): Promise<BusConnection> {
  const { redisUrl, onReconnect } = options;
  if (!redisUrl) return { redisHealth: async () => null, close: async () => {} };
  const id = `${options.redisPrefix}\u0000${redisUrl}`;
  let link = links.get(id);
  if (!link) links.set(id, (link = createRedisLink(redisUrl, `${options.redisPrefix}bus`, () => links.delete(id))));
  const shared = link;
  shared.users++;
  if (onReconnect) shared.onReconnect.add(onReconnect);
  await shared.ready;
  let closed = false;
  return {
    redisHealth: () => shared.health(),
    async close() {
      if (closed) return;
      closed = true;
      if (onReconnect) shared.onReconnect.delete(onReconnect);
      if (--shared.users === 0) await shared.close();
    },
  };
}

interface RedisLink {
  users: number;
  readonly ready: Promise<void>;
  readonly onReconnect: Set<() => Promise<void> | void>;
  send(topic: string, json: string): void;
  health(): Promise<RedisHealth>;
  close(): Promise<void>;
}

/**
 * Two connections: one publishes (failing fast while Redis is away rather than queueing stale
 * events), one listens on a single channel. Messages carry the sender's id, so an instance
 * skips its own (already delivered locally).
 */
function createRedisLink(url: string, channel: string, forget: () => void): RedisLink {
  const origin = randomBytes(8).toString('hex');
  const originField = JSON.stringify(origin);
  const pub = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: PING_TIMEOUT_MS, connectionName: 'relais-bus-publish' });
  // Subscribes itself on every (re)connection, then re-synchronises: see `onSubscribed`.
  const sub = new Redis(url, { autoResubscribe: false, maxRetriesPerRequest: null, connectionName: 'relais-bus-subscribe' });
  let subscribed = false;
  let startupDone = false;
  let dropped = 0;
  let closing = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const startupTimer = setTimeout(() => {
    if (startupDone) return;
    startupDone = true;
    log.warn({ channel }, 'bus: redis not reachable yet; events from other instances are not heard until it is');
    resolveReady();
  }, STARTUP_WAIT_MS);
  startupTimer.unref();

  // ioredis reconnects by itself (at most 2 s between tries); one line per outage and connection is enough.
  for (const [client, role] of [[pub, 'publish'], [sub, 'subscribe']] as const) {
    let reported = false;
    client.on('error', (err: Error) => {
      if (reported) return;
      reported = true;
      log.warn({ err: err.message, role }, 'bus: redis connection error; reconnecting');
    });
    client.on('ready', () => (reported = false));
  }

  pub.on('ready', () => {
    if (dropped > 0) log.warn({ dropped }, 'bus: redis back; events published while it was away did not reach other instances');
    dropped = 0;
    startedUp();
  });

  sub.on('ready', () => {
    sub.subscribe(channel).then(onSubscribed, (err: unknown) => log.warn({ err }, 'bus: redis subscribe failed; retrying on reconnect'));
  });
  sub.on('close', () => {
    if (subscribed && !closing) log.warn({ channel }, 'bus: lost redis; events from other instances are not heard until it is back');
    subscribed = false;
  });

  /** Start-up is over once both connections are up (or the wait gave up). */
  function startedUp(): void {
    if (startupDone || !subscribed || pub.status !== 'ready') return;
    startupDone = true;
    clearTimeout(startupTimer);
    resolveReady();
  }

  function onSubscribed(): void {
    subscribed = true;
    if (!startupDone) return startedUp();
    log.info({ channel }, 'bus: redis connected; re-synchronising state');
    for (const handler of link.onReconnect) {
      Promise.resolve()
        .then(handler)
        .catch((err: unknown) => log.error({ err }, 'bus: re-synchronisation failed'));
    }
  }

  sub.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    let envelope: { o?: unknown; c?: unknown; p?: unknown };
    try {
      envelope = JSON.parse(message) as typeof envelope;
    } catch {
      return log.warn({ channel }, 'bus: ignored a message that is not JSON');
    }
    if (envelope.o === origin || typeof envelope.c !== 'string') return;
    deliver(envelope.c, envelope.p ?? null);
    if (threads.size) shareWithThreads(envelope.c, JSON.stringify(envelope.p ?? null));
  });

  const link: RedisLink = {
    users: 0,
    ready,
    onReconnect: new Set(),
    send(topic, json) {
      const message = `{"o":${originField},"c":${JSON.stringify(topic)},"p":${json}}`;
      pub.publish(channel, message).catch((err: unknown) => {
        if (dropped++ === 0) log.warn({ err: (err as Error).message, channel: topic }, 'bus: event not shared with other instances (redis unavailable)');
      });
    },
    async health() {
      if (!subscribed || pub.status !== 'ready') return 'unreachable';
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pub.ping(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('redis ping timed out')), PING_TIMEOUT_MS))),
        ]);
        return 'ok';
      } catch {
        return 'unreachable';
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closing = true;
      forget();
      clearTimeout(startupTimer);
      resolveReady();
      // The publisher hands over what it has in flight; the listener has nothing to finish.
      sub.disconnect();
      if (pub.status === 'ready') await pub.quit().catch(() => pub.disconnect());
      else pub.disconnect();
    },
  };
  return link;
}
