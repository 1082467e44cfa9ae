import { bus, type BalanceChangedEvent } from '../bus.js';
import type { TrafficProduct } from '../generated/prisma/client.js';
import { log } from '../lib/logger.js';
import { formatMicro, microOf } from '../lib/micro.js';
import { hourOf, windowStarts, WINDOWS } from '../modules/usage/windows.js';
import type { ProxyKey } from './key-store.js';
import type { LimitsMicro as Limits, PerWindowMicro as PerWindow, SocksStore } from './store.js';
import type { MeteredConnection } from './types.js';

/**
 * Metering and enforcement for the SOCKS5 worker, in memory:
 * - every tick, bytes relayed since the last tick are added to hourly accumulators per key and
 *   product, and each user's and key's remaining credit is recomputed exactly (integers of
 *   micro-USD): min(balance, account limits left, key limits left) over day, week and month,
 *   minus what is used but not yet written;
 * - between ticks, every chunk is charged against a shared float budget of the user and of
 *   the key; only the bytes the budget covers are forwarded, and the connections are cut on
 *   the chunk that exhausts it (no overshoot beyond the rounding of the cost to 10^-6 per
 *   hourly bucket on one instance);
 * - every second (and at stop) the accumulators are written (`recordTraffic`, run by the main
 *   thread for the worker): usage buckets, one `consumption` ledger row per key and product,
 *   and the balance, in one statement per user.
 * What it reads from the database comes through `store` (store.ts), in micro-USD.
 * Cost is exact per hourly bucket: round-half-up(bytes × price per GB × rate / 10^9) at 10^-6.
 */

const HOUR_MS = 3_600_000;

/** Cost in micro-USD of `bytes` at `priceMicro` per GB and `rateMicro` (rate × 10^6), rounded half up. */
export function costMicro(bytes: number, priceMicro: number, rateMicro: number): number {
  const num = BigInt(bytes) * BigInt(priceMicro) * BigInt(rateMicro);
  const den = 1_000_000_000n * 1_000_000n;
  return Number((num * 2n + den) / (2n * den));
}

interface Accumulator {
  product: TrafficProduct;
  hour: Date;
  up: number;
  down: number;
  connections: number;
  flushedUp: number;
  flushedDown: number;
  flushedConnections: number;
  /** Cost already written for this bucket's bytes at the current prices. */
  chargedMicro: number;
  /** Bytes counted at the current prices (restarted when prices change). */
  pricedBytes: number;
  /** The part of pricedBytes that chargedMicro paid for. */
  chargedBytes: number;
}

export interface Budget {
  left: number;
}

interface KeyState {
  key: ProxyKey;
  user: UserState;
  limits: Limits;
  spent: PerWindow;
  budget: Budget;
  conns: Map<MeteredConnection, TrafficProduct>;
  accs: Map<string, Accumulator>;
  /** The accumulator connections of this key used last, valid until `currentUntil` (end of its hour). */
  current: Accumulator | null;
  currentUntil: number;
  /** Last admission or connection: a state in use is never swept. */
  lastActive: number;
}

interface UserState {
  userId: number;
  balanceMicro: number;
  lastTransactionId: number;
  limits: Limits;
  spent: PerWindow;
  day: number;
  rateMicro: number;
  budget: Budget;
  keys: Map<number, KeyState>;
  idleSince: number;
  flushing: Promise<void> | null;
  /** Set while limits, prices or the rate are being reloaded after a change. */
  refreshing: Promise<void> | null;
}

export interface MeterOptions {
  /** The database's side: `socksStore` itself in the main thread, calls to it from the SOCKS worker. */
  store: Pick<SocksStore, 'recordTraffic' | 'meteredUser' | 'keySpent' | 'keyLimits' | 'trafficPrices'>;
  tickMs?: number;
  flushMs?: number;
  /** How long a user's state is kept after its last connection closed. */
  keepIdleMs?: number;
}

export type Meter = ReturnType<typeof createMeter>;

export function createMeter(options: MeterOptions) {
  const { store } = options;
  const tickMs = options.tickMs ?? 200;
  const flushMs = options.flushMs ?? 1000;
  const keepIdleMs = options.keepIdleMs ?? 60_000;
  const users = new Map<number, UserState>();
  const loading = new Map<number, Promise<UserState>>();
  const prices = new Map<TrafficProduct, number>();
  /** Connections opened before their key's state was loaded (the gate loads it while dialling). */
  const waiting = new Map<MeteredConnection, { key: ProxyKey; product: TrafficProduct }>();
  const unsubscribe: (() => void)[] = [];
  let timers: NodeJS.Timeout[] = [];

  async function loadPrices(): Promise<void> {
    for (const [product, micro] of await store.trafficPrices()) prices.set(product, micro);
  }

  async function loadUser(userId: number): Promise<UserState> {
    const user = await store.meteredUser(userId);
    return {
      userId,
      ...user,
      day: windowStarts(new Date()).daily.getTime(),
      budget: { left: 0 },
      keys: new Map(),
      idleSince: Date.now(),
      flushing: null,
      refreshing: null,
    };
  }

  /** The user's state, loaded from the database the first time (and after it went idle). */
  function userState(userId: number): Promise<UserState> {
    const known = users.get(userId);
    if (known) return Promise.resolve(known);
    let pending = loading.get(userId);
    if (!pending) {
      pending = loadUser(userId).then((state) => {
        users.set(userId, state);
        return state;
      });
      pending.finally(() => loading.delete(userId)).catch(() => {});
      loading.set(userId, pending);
    }
    return pending;
  }

  async function keyState(key: ProxyKey): Promise<KeyState> {
    const user = await userState(key.userId);
    let state = user.keys.get(key.id);
    if (!state) {
      const spent = await store.keySpent(key.userId, key.id);
      state = user.keys.get(key.id);
      if (!state) {
        state = { key, user, limits: key.limits, spent, budget: { left: 0 }, conns: new Map(), accs: new Map(), current: null, currentUntil: 0, lastActive: Date.now() };
        user.keys.set(key.id, state);
      }
    }
    state.lastActive = Date.now();
    // A known key's budget is kept current by charges and ticks; recompute only when the key
    // (and so its limits) changed or the state is new, not on every connection.
    if (state.key !== key || state.budget.left === 0) {
      state.key = key;
      state.limits = key.limits;
      recompute(user);
    }
    return state;
  }

  const pendingOf = (k: KeyState) => {
    let micro = 0;
    for (const acc of k.accs.values()) micro += costMicro(acc.pricedBytes, prices.get(acc.product) ?? 0, k.user.rateMicro) - acc.chargedMicro;
    return micro;
  };

  const leftUnder = (limits: Limits, spent: PerWindow, pending: number, start: number) => {
    let left = start;
    for (const w of WINDOWS) {
      const limit = limits[w];
      if (limit !== null) left = Math.min(left, limit - spent[w] - pending);
    }
    return left;
  };

  /**
   * Exact remaining credit of the user and each of its keys, into their budgets. Bytes relayed
   * so far are collected first: the float budgets already paid for them.
   */
  function recompute(user: UserState): void {
    const now = Date.now();
    for (const k of user.keys.values()) for (const [conn, product] of k.conns) collect(k, conn, product, now);
    let userPending = 0;
    const keyPending = new Map<KeyState, number>();
    for (const k of user.keys.values()) {
      const p = pendingOf(k);
      keyPending.set(k, p);
      userPending += p;
    }
    user.budget.left = leftUnder(user.limits, user.spent, userPending, user.balanceMicro - userPending);
    for (const [k, p] of keyPending) k.budget.left = leftUnder(k.limits, k.spent, p, user.budget.left);
  }

  function cut(conns: Iterable<MeteredConnection>, reason: string): void {
    for (const conn of conns) conn.destroy(reason);
  }

  /** Consumption rows this meter wrote, until their balance event comes back (its spending is counted already). */
  const ownConsumption = new Set<number>();

  const enforcing = new Set<UserState>();
  /** Enforces once the current chunk is written (several chunks in one turn enforce once). */
  function enforceSoon(user: UserState): void {
    if (enforcing.has(user)) return;
    enforcing.add(user);
    queueMicrotask(() => {
      enforcing.delete(user);
      enforce(user);
    });
  }

  function enforce(user: UserState): void {
    if (user.budget.left <= 0) {
      for (const k of user.keys.values()) cut(k.conns.keys(), 'credit exhausted');
      return;
    }
    for (const k of user.keys.values()) if (k.budget.left <= 0) cut(k.conns.keys(), 'key limit reached');
  }

  function accumulator(k: KeyState, product: TrafficProduct, now: number): Accumulator {
    // Every connection opens and closes on one: the hour's bucket is looked up once an hour.
    const current = k.current;
    if (current !== null && current.product === product && now < k.currentUntil) return current;
    const hour = hourOf(new Date(now));
    const id = `${product}:${hour.getTime()}`;
    let acc = k.accs.get(id);
    if (!acc) {
      acc = { product, hour, up: 0, down: 0, connections: 0, flushedUp: 0, flushedDown: 0, flushedConnections: 0, chargedMicro: 0, pricedBytes: 0, chargedBytes: 0 };
      k.accs.set(id, acc);
    }
    k.current = acc;
    k.currentUntil = hour.getTime() + HOUR_MS;
    return acc;
  }

  function attach(k: KeyState, conn: MeteredConnection, product: TrafficProduct): void {
    k.lastActive = Date.now();
    k.conns.set(conn, product);
    accumulator(k, product, Date.now()).connections++;
  }

  function collect(k: KeyState, conn: MeteredConnection, product: TrafficProduct, now: number): void {
    const { up, down } = conn.takeBytes();
    if (up === 0 && down === 0) return;
    const acc = accumulator(k, product, now);
    acc.up += up;
    acc.down += down;
    acc.pricedBytes += up + down;
  }

  function tick(): void {
    const now = Date.now();
    const day = windowStarts(new Date(now)).daily.getTime();
    for (const user of users.values()) {
      if (user.day !== day) rollWindows(user, now, day);
      recompute(user);
      enforce(user);
    }
  }

  /** A new UTC day (maybe week, month): spending in windows that ended no longer counts. */
  function rollWindows(user: UserState, now: number, day: number): void {
    const starts = windowStarts(new Date(now));
    const reset = (spent: PerWindow) => {
      spent.daily = 0;
      if (starts.weekly.getTime() === day) spent.weekly = 0;
      if (starts.monthly.getTime() === day) spent.monthly = 0;
    };
    reset(user.spent);
    for (const k of user.keys.values()) reset(k.spent);
    user.day = day;
  }

  /** One event per key and product a flush wrote, with what the key may still spend (subscriptions). */
  function publishUsage(user: UserState, work: readonly { k: KeyState; acc: Accumulator; up: number; down: number; cost: number }[], at: string): void {
    const sums = new Map<string, { k: KeyState; product: TrafficProduct; up: number; down: number; cost: number }>();
    for (const w of work) {
      if (!w.up && !w.down && !w.cost) continue;
      const id = `${w.k.key.id}:${w.acc.product}`;
      const sum = sums.get(id) ?? { k: w.k, product: w.acc.product, up: 0, down: 0, cost: 0 };
      sum.up += w.up;
      sum.down += w.down;
      sum.cost += w.cost;
      sums.set(id, sum);
    }
    for (const s of sums.values()) {
      void bus.publish('usage:updated', {
        userId: user.userId,
        apiKeyId: s.k.key.id,
        product: s.product,
        bytesIn: String(s.down),
        bytesOut: String(s.up),
        cost: formatMicro(s.cost),
        remainingCredit: formatMicro(Math.max(0, Math.floor(s.k.budget.left))),
        at,
      });
    }
  }

  async function flushUser(user: UserState): Promise<void> {
    const at = new Date().toISOString();
    const work: { k: KeyState; acc: Accumulator; up: number; down: number; connections: number; cost: number; priced: number }[] = [];
    for (const k of user.keys.values()) {
      for (const acc of k.accs.values()) {
        const up = acc.up - acc.flushedUp;
        const down = acc.down - acc.flushedDown;
        const connections = acc.connections - acc.flushedConnections;
        const cost = costMicro(acc.pricedBytes, prices.get(acc.product) ?? 0, user.rateMicro) - acc.chargedMicro;
        if (up || down || connections || cost) work.push({ k, acc, up, down, connections, cost, priced: acc.pricedBytes });
      }
    }
    if (!work.length) return;
    const events = await store.recordTraffic(
      user.userId,
      work.map((w) => ({ apiKeyId: w.k.key.id, product: w.acc.product, hour: w.acc.hour, bytesUp: w.up, bytesDown: w.down, connections: w.connections, costMicro: w.cost })),
    );
    for (const w of work) {
      w.acc.flushedUp += w.up;
      w.acc.flushedDown += w.down;
      w.acc.flushedConnections += w.connections;
      w.acc.chargedMicro += w.cost;
      w.acc.chargedBytes = w.priced;
      for (const win of WINDOWS) {
        user.spent[win] += w.cost;
        w.k.spent[win] += w.cost;
      }
    }
    const last = events.at(-1);
    for (const event of events) ownConsumption.add(event.transactionId);
    if (last) {
      user.balanceMicro = microOf(last.balance);
      user.lastTransactionId = last.transactionId;
      for (const event of events) void bus.publish('balance:changed', event);
    }
    recompute(user);
    enforce(user);
    publishUsage(user, work, at);
  }

  /** Drops fully written buckets of past hours and users idle for a while. */
  function sweep(now: number): void {
    const hour = hourOf(new Date(now)).getTime();
    for (const [userId, user] of users) {
      let open = 0;
      for (const [keyId, k] of user.keys) {
        for (const [id, acc] of k.accs) {
          const written = acc.up === acc.flushedUp && acc.down === acc.flushedDown && acc.connections === acc.flushedConnections;
          if (written && acc.hour.getTime() < hour && k.conns.size === 0) k.accs.delete(id);
        }
        open += k.conns.size;
        if (k.conns.size === 0 && k.accs.size === 0 && now - k.lastActive > keepIdleMs) user.keys.delete(keyId);
      }
      if (open > 0) user.idleSince = now;
      else if (now - user.idleSince > keepIdleMs && user.keys.size === 0 && !user.refreshing) users.delete(userId);
    }
  }

  async function flush(): Promise<void> {
    tick();
    await Promise.all(
      [...users.values()].map((user) => {
        user.flushing ??= flushUser(user)
          .catch((err: unknown) => log.error({ err, userId: user.userId }, 'metering flush failed; will retry'))
          .finally(() => (user.flushing = null));
        return user.flushing;
      }),
    );
    sweep(Date.now());
  }

  function onKeyChanged(event: { apiKeyId: number; userId: number; change: string }): void {
    const k = users.get(event.userId)?.keys.get(event.apiKeyId);
    if (!k) return;
    if (event.change === 'revoked' || event.change === 'regenerated') return cut(k.conns.keys(), `key ${event.change}`);
    store
      .keyLimits(event.apiKeyId)
      .then((limits) => {
        if (!limits) return;
        k.limits = limits;
        recompute(k.user);
        enforce(k.user);
      })
      .catch((err: unknown) => log.warn({ err }, 'key limits reload failed'));
  }

  function onBalanceChanged(event: BalanceChangedEvent): void {
    const own = ownConsumption.delete(event.transactionId);
    const user = users.get(event.userId);
    if (!user) return;
    const elsewhere = event.type === 'consumption' && !own;
    if (elsewhere) {
      // Another instance's traffic: it counts against this account's and key's limits here too.
      const micro = -microOf(event.amount);
      const k = event.apiKeyId === null ? undefined : user.keys.get(event.apiKeyId);
      for (const w of WINDOWS) {
        user.spent[w] += micro;
        if (k) k.spent[w] += micro;
      }
    }
    const newer = event.transactionId > user.lastTransactionId;
    if (newer) {
      user.balanceMicro = microOf(event.balance);
      user.lastTransactionId = event.transactionId;
    }
    if (elsewhere || newer) recompute(user);
  }

  /**
   * Limits, prices or the user's rate changed: write what was used at the old prices, then
   * reload them and start a new pricing segment in each bucket. Connections keep flowing.
   */
  async function refreshUser(user: UserState): Promise<void> {
    await user.flushing;
    user.flushing = flushUser(user).finally(() => (user.flushing = null));
    await user.flushing;
    const fresh = await loadUser(user.userId);
    user.limits = fresh.limits;
    user.rateMicro = fresh.rateMicro;
    user.spent = fresh.spent;
    if (fresh.lastTransactionId > user.lastTransactionId) {
      user.balanceMicro = fresh.balanceMicro;
      user.lastTransactionId = fresh.lastTransactionId;
    }
    for (const k of user.keys.values()) {
      k.spent = await store.keySpent(user.userId, k.key.id);
      for (const acc of k.accs.values()) {
        acc.pricedBytes -= acc.chargedBytes;
        acc.chargedBytes = 0;
        acc.chargedMicro = 0;
      }
    }
    recompute(user);
    enforce(user);
  }

  function onPricingOrSettingsChanged(userId: number | null): void {
    const reload = async () => {
      if (userId === null) await loadPrices();
      for (const user of users.values()) {
        if (userId !== null && user.userId !== userId) continue;
        user.refreshing ??= refreshUser(user)
          .catch((err: unknown) => log.warn({ err, userId: user.userId }, 'metering reload failed'))
          .finally(() => (user.refreshing = null));
      }
    };
    reload().catch((err: unknown) => log.warn({ err }, 'price reload failed'));
  }

  function listen<T>(iterable: AsyncIterable<T>, handler: (value: T) => void): void {
    const iterator = iterable[Symbol.asyncIterator]();
    let active = true;
    void (async () => {
      while (active) {
        const next = await iterator.next();
        if (next.done) return;
        try {
          handler(next.value);
        } catch (err) {
          // One bad event (say, from another instance's bus) must not stop the listening.
          log.error({ err }, 'metering event handler failed');
        }
      }
    })();
    unsubscribe.push(() => {
      active = false;
      void iterator.return?.();
    });
  }

  async function admitLoading(key: ProxyKey): Promise<boolean> {
    const state = await keyState(key);
    await state.user.refreshing;
    for (const [conn, w] of waiting) {
      if (w.key.id !== key.id) continue;
      waiting.delete(conn);
      attach(state, conn, w.product);
    }
    return state.budget.left > 0;
  }

  return {
    async start(): Promise<void> {
      await loadPrices();
      listen(bus.subscribe('key:changed'), onKeyChanged);
      listen(bus.subscribe('balance:changed'), onBalanceChanged);
      listen(bus.subscribe('settings:changed'), (e) => onPricingOrSettingsChanged(e.userId));
      listen(bus.subscribe('pricing:changed'), (e) => onPricingOrSettingsChanged(e.userId));
      timers = [setInterval(tick, tickMs), setInterval(() => void flush(), flushMs)];
      timers.forEach((t) => t.unref());
    },

    /**
     * Says whether the key may spend: at once when its state is loaded (the usual case), after
     * loading what enforcement needs from the database otherwise (once per idle period).
     */
    admit(key: ProxyKey): boolean | Promise<boolean> {
      const k = users.get(key.userId)?.keys.get(key.id);
      if (k !== undefined && k.key === key && k.budget.left > 0 && k.user.refreshing === null) {
        k.lastActive = Date.now();
        return true;
      }
      return admitLoading(key);
    },

    /** Synchronous view for the gate: false when a loaded state says the credit is gone. */
    exhausted(key: ProxyKey): boolean {
      const k = users.get(key.userId)?.keys.get(key.id);
      return k !== undefined && k.budget.left <= 0;
    },

    open(key: ProxyKey, product: TrafficProduct, conn: MeteredConnection): void {
      const k = users.get(key.userId)?.keys.get(key.id);
      if (k) attach(k, conn, product);
      else waiting.set(conn, { key, product });
    },

    close(key: ProxyKey, conn: MeteredConnection): void {
      if (waiting.delete(conn)) return;
      const k = users.get(key.userId)?.keys.get(key.id);
      const product = k?.conns.get(conn);
      if (!k || product === undefined) return;
      collect(k, conn, product, Date.now());
      k.conns.delete(conn);
    },

    /**
     * Per chunk: spends from the shared budgets and returns how many of the bytes the credit
     * covers. When it runs out, the connections of the key (or the user) are cut right after
     * the caller has forwarded what was paid for.
     */
    charge(key: ProxyKey, product: TrafficProduct, bytes: number): number {
      const k = users.get(key.userId)?.keys.get(key.id);
      if (!k) return 0;
      const perByte = ((prices.get(product) ?? 0) * k.user.rateMicro) / 1e15;
      if (perByte === 0) return bytes;
      const left = Math.min(k.user.budget.left, k.budget.left);
      const allowed = bytes * perByte <= left ? bytes : Math.max(0, Math.floor(left / perByte));
      const cost = allowed * perByte;
      k.user.budget.left -= cost;
      k.budget.left -= cost;
      if (allowed < bytes) {
        // Less than a byte's worth is left: the budget that stopped the chunk is spent.
        if (k.user.budget.left < perByte) k.user.budget.left = 0;
        if (k.budget.left < perByte) k.budget.left = 0;
      }
      if (k.user.budget.left <= 0 || k.budget.left <= 0) enforceSoon(k.user);
      return allowed;
    },

    flush,

    async stop(): Promise<void> {
      timers.forEach(clearInterval);
      unsubscribe.splice(0).forEach((u) => u());
      await flush();
    },
  };
}
