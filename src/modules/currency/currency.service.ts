import { prisma } from '../../db.js';
import type { ExchangeRate } from '../../generated/prisma/client.js';
import { ValidationError } from '../../lib/errors.js';
import { log } from '../../lib/logger.js';
import { Decimal, type Money } from '../../lib/money.js';
import { runtime } from '../../runtime.js';

/**
 * Display currencies. Prices and balances are USD; other currencies are for display, converted
 * with the rates table (1 USD = rate units), which an administrator (setExchangeRate) or the
 * configured feed (EXCHANGE_RATES_URL, read when the table is older than its period) updates.
 */
export const CURRENCIES = ['USD', 'EUR', 'GBP', 'PLN', 'CZK', 'HUF', 'RON', 'SEK', 'NOK', 'DKK', 'CHF', 'HRK', 'BGN', 'UAH', 'TRY'] as const;
export type Currency = (typeof CURRENCIES)[number];
export const BASE_CURRENCY: Currency = 'USD';

/** Rates seeded on first use, so conversion works before anyone sets one (source "default"). */
const DEFAULT_RATES: Record<Currency, string> = {
  USD: '1',
  EUR: '0.92',
  GBP: '0.79',
  PLN: '3.98',
  CZK: '23.2',
  HUF: '362',
  RON: '4.58',
  SEK: '10.6',
  NOK: '10.8',
  DKK: '6.87',
  CHF: '0.88',
  HRK: '6.94',
  BGN: '1.8',
  UAH: '41.2',
  TRY: '34.5',
};

/** Rates are shown with at most this many decimals. */
export const RATE_SCALE = 8;
const RATE_MAX = new Decimal('1000000000');

/** A supported currency code, case-insensitive; otherwise a ValidationError naming `field`. */
export function parseCurrency(value: string, field: string): Currency {
  const code = value.trim().toUpperCase();
  if (!(CURRENCIES as readonly string[]).includes(code)) {
    throw new ValidationError(field, `${field} must be one of ${CURRENCIES.join(', ')}.`);
  }
  return code as Currency;
}

// One seeding per database client (tests run several servers, each on its own database).
const seeded = new WeakMap<object, Promise<void>>();

/** Adds the default rate of every currency that has none yet; never overwrites a set rate. */
export function seedExchangeRates(): Promise<void> {
  let done = seeded.get(prisma);
  if (!done) {
    done = prisma.exchangeRate
      .createMany({
        data: CURRENCIES.map((currency) => ({ currency, rate: new Decimal(DEFAULT_RATES[currency]), source: 'default' })),
        skipDuplicates: true,
      })
      .then(() => undefined);
    done.catch(() => seeded.delete(prisma));
    seeded.set(prisma, done);
  }
  return done;
}

const FEED_TIMEOUT_MS = 3000;

interface FeedState {
  /** When the feed was last asked (successfully or not). */
  checkedAt: number;
  running: Promise<void> | null;
}
const feeds = new WeakMap<object, FeedState>();

/**
 * Reads the configured rates feed (EXCHANGE_RATES_URL) into the table: `rates` keyed by
 * currency code against `base` (or `base_code`; default USD), as the common rate APIs and
 * Relais's own GET /currencies/rates answer. Unknown codes and bad numbers are skipped.
 */
async function readFeed(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FEED_TIMEOUT_MS), headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`rates feed answered ${res.status}`);
  const body = (await res.json()) as { base?: unknown; base_code?: unknown; rates?: unknown };
  if (!body.rates || typeof body.rates !== 'object') throw new Error('rates feed has no "rates" object');
  const raw = body.rates as Record<string, unknown>;
  const base = String(body.base ?? body.base_code ?? 'USD').toUpperCase();
  const exact = (v: unknown): Money | null => {
    const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v.trim() : '';
    return /^\d{1,10}(\.\d+)?(e-?\d+)?$/i.test(text) && Number(text) > 0 ? new Decimal(text) : null;
  };
  // Rates against another base become rates against USD: X per USD = (X per base) / (USD per base).
  const usdPerBase = base === BASE_CURRENCY ? new Decimal(1) : exact(raw[BASE_CURRENCY]);
  if (!usdPerBase) throw new Error(`rates feed is based on ${base} and has no USD rate`);
  const source = `feed:${new URL(url).host}`;
  let updated = 0;
  for (const currency of CURRENCIES) {
    if (currency === BASE_CURRENCY) continue;
    const perBase = currency === base ? new Decimal(1) : exact(raw[currency]);
    if (!perBase) continue;
    const rate = perBase.div(usdPerBase).toDecimalPlaces(RATE_SCALE, Decimal.ROUND_HALF_UP);
    if (rate.isZero() || rate.gt(RATE_MAX)) continue;
    await prisma.exchangeRate.upsert({ where: { currency }, update: { rate, source }, create: { currency, rate, source } });
    updated++;
  }
  return updated;
}

/**
 * Refreshes the table from the feed when it is configured and was last asked longer ago than
 * EXCHANGE_RATES_REFRESH: once at a time per process, waited for by the readers of that moment.
 * A feed that fails leaves the table as it is until the next period.
 */
async function refreshFromFeed(): Promise<void> {
  const { exchangeRatesUrl: url, exchangeRatesRefreshMs: every } = runtime().config;
  if (!url) return;
  let state = feeds.get(prisma);
  if (!state) feeds.set(prisma, (state = { checkedAt: 0, running: null }));
  if (!state.running && Date.now() - state.checkedAt < every) return;
  const current = state;
  current.running ??= readFeed(url)
    .then((n) => log.info({ updated: n }, 'exchange rates read from the feed'))
    .catch((err: unknown) => log.warn({ err }, 'exchange rates feed failed; keeping the current rates'))
    .finally(() => {
      current.checkedAt = Date.now();
      current.running = null;
    });
  await current.running;
}

export interface RateEntry {
  currency: Currency;
  /** 1 base = rate units of `currency`. */
  rate: Money;
  source: string;
  updatedAt: Date;
}

export interface RateTable {
  base: Currency;
  rates: RateEntry[];
}

/**
 * Every supported currency's rate against `base` (default USD): target / base from the USD
 * table, rounded half-up to 8 decimals; the base itself is exactly 1.
 */
export async function exchangeRates(rawBase?: string | null): Promise<RateTable> {
  const base = rawBase === undefined || rawBase === null || rawBase === '' ? BASE_CURRENCY : parseCurrency(rawBase, 'base');
  await seedExchangeRates();
  await refreshFromFeed();
  const rows = new Map((await prisma.exchangeRate.findMany()).map((r) => [r.currency, r]));
  const usdRate = (c: Currency) => rows.get(c)?.rate ?? new Decimal(DEFAULT_RATES[c]);
  const baseRate = usdRate(base);
  return {
    base,
    rates: CURRENCIES.map((currency) => ({
      currency,
      rate: currency === base ? new Decimal(1) : usdRate(currency).div(baseRate).toDecimalPlaces(RATE_SCALE, Decimal.ROUND_HALF_UP),
      source: rows.get(currency)?.source ?? 'default',
      updatedAt: rows.get(currency)?.updatedAt ?? new Date(0),
    })),
  };
}

/** Sets how many units of `currency` one USD buys (an administrator, or a rates source). */
export async function setExchangeRate(rawCurrency: string, rate: Money, source = 'manual'): Promise<ExchangeRate> {
  const currency = parseCurrency(rawCurrency, 'currency');
  if (currency === BASE_CURRENCY) throw new ValidationError('currency', 'USD is the internal currency; its rate is always 1.');
  if (!rate.isPositive() || rate.isZero() || rate.gt(RATE_MAX) || rate.decimalPlaces() > RATE_SCALE) {
    throw new ValidationError('rate', `rate must be a positive number with at most ${RATE_SCALE} decimals.`);
  }
  await seedExchangeRates();
  return prisma.exchangeRate.upsert({ where: { currency }, update: { rate, source }, create: { currency, rate, source } });
}
