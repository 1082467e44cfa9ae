import { prisma, Prisma } from '../../db.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import { Decimal, MONEY_MAX, type Money } from '../../lib/money.js';
import { windowStarts, WINDOWS, type Window } from './windows.js';

export type PerWindow<T> = Record<Window, T>;
export type Limits = PerWindow<Money | null>;

const zero = () => new Decimal(0);

export const LIMIT_FIELDS = ['dailyLimit', 'weeklyLimit', 'monthlyLimit'] as const;

/** Refuses negative or oversized spending limits, naming the field; null means no limit. */
export function checkLimitFields(limits: Partial<Record<(typeof LIMIT_FIELDS)[number], Money | null>>): void {
  for (const field of LIMIT_FIELDS) {
    const value = limits[field];
    if (value && (value.isNegative() || value.gt(MONEY_MAX))) {
      throw new ValidationError(field, `${field} must be a non-negative amount (or null for no limit).`);
    }
  }
}

export const limitsOf = (row: { dailyLimit: Money | null; weeklyLimit: Money | null; monthlyLimit: Money | null } | null): Limits => ({
  daily: row?.dailyLimit ?? null,
  weekly: row?.weeklyLimit ?? null,
  monthly: row?.monthlyLimit ?? null,
});

/**
 * Money spent on traffic in the current UTC day, ISO week and month, from the hourly usage
 * buckets (flushed at least every second), for the account or for one of its keys.
 */
export async function spentByWindow(userId: number, apiKeyId?: number, now = new Date()): Promise<PerWindow<Money>> {
  const starts = windowStarts(now);
  const since = starts.weekly < starts.monthly ? starts.weekly : starts.monthly;
  const keyFilter = apiKeyId === undefined ? Prisma.empty : Prisma.sql`AND api_key_id = ${apiKeyId}`;
  const [row] = await prisma.$queryRaw<{ daily: Money | null; weekly: Money | null; monthly: Money | null }[]>`
    SELECT sum(cost) FILTER (WHERE hour >= ${starts.daily}) AS daily,
           sum(cost) FILTER (WHERE hour >= ${starts.weekly}) AS weekly,
           sum(cost) FILTER (WHERE hour >= ${starts.monthly}) AS monthly
    FROM usage_buckets WHERE user_id = ${userId} ${keyFilter} AND hour >= ${since}`;
  return {
    daily: row?.daily ? new Decimal(row.daily) : zero(),
    weekly: row?.weekly ? new Decimal(row.weekly) : zero(),
    monthly: row?.monthly ? new Decimal(row.monthly) : zero(),
  };
}

/** What is left under each limit (null where there is no limit), never below zero. */
export function remainingUnder(limits: Limits, spent: PerWindow<Money>): PerWindow<Money | null> {
  const out = {} as PerWindow<Money | null>;
  for (const w of WINDOWS) {
    const limit = limits[w];
    out[w] = limit === null ? null : Decimal.max(limit.minus(spent[w]), 0);
  }
  return out;
}

const minOf = (values: (Money | null)[]): Money | null =>
  values.reduce<Money | null>((acc, v) => (v === null ? acc : acc === null || v.lt(acc) ? v : acc), null);

/**
 * Credit that traffic may still spend: min(balance, account limits left, key limits left)
 * over the day, week and month windows, never below zero. With no key, every key's limits
 * are ignored (the account view).
 */
export async function remainingCredit(userId: number, apiKeyId?: number, now = new Date()): Promise<Money> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { balance: true, settings: true } });
  if (!user) throw new NotFoundError('User');
  const candidates: (Money | null)[] = [user.balance, ...Object.values(remainingUnder(limitsOf(user.settings), await spentByWindow(userId, undefined, now)))];
  if (apiKeyId !== undefined) {
    const key = await prisma.apiKey.findFirst({ where: { id: apiKeyId, userId } });
    if (!key) throw new NotFoundError('API key');
    candidates.push(...Object.values(remainingUnder(limitsOf(key), await spentByWindow(userId, apiKeyId, now))));
  }
  return Decimal.max(minOf(candidates) ?? zero(), 0);
}
