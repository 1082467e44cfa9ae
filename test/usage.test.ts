import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import {
  AccountSettings,
  AdjustBalance,
  BalanceSummary,
  CreateKey,
  DailyUsage,
  KeyUsage,
  Transactions,
  UpdateAccountLimits,
  UpdateKey,
  Usage,
  RevokeKey,
} from './helpers/operations.js';
import type { TransactionsQueryVariables } from '../src/generated/graphql/graphql.js';
import { prisma, Prisma } from '../src/db.js';
import type { TrafficProduct } from '../src/generated/prisma/client.js';
import { applyEntry } from '../src/modules/ledger/ledger.service.js';
import type { SubtypeName } from '../src/modules/ledger/subtypes.js';
import { dailyUsage, usageOverview } from '../src/modules/usage/usage.service.js';
import { hourOf, windowStarts } from '../src/modules/usage/windows.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url });
  admin = await adminUser(server, smtp);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D = (v: string | number) => new Prisma.Decimal(v);
const money = (v: Prisma.Decimal) => v.toFixed(6);
const as = (user: TestUser) => ({ token: user.accessToken });

/** Traffic as the SOCKS5 metering will record it: one hourly bucket per key and product. */
async function bucket(user: TestUser, apiKeyId: string, product: TrafficProduct, hour: Date, cost: string, bytes = 0n) {
  await prisma.usageBucket.create({
    data: { userId: Number(user.id), apiKeyId: Number(apiKeyId), product, hour, cost: D(cost), bytesUp: bytes / 2n, bytesDown: bytes - bytes / 2n },
  });
}

/** A ledger row written the way services write them (balance and row together), optionally backdated. */
async function entry(user: TestUser, subtype: SubtypeName, amount: string, opts: { apiKeyId?: string; at?: Date } = {}) {
  const row = await prisma.$transaction((tx) =>
    applyEntry(tx, { userId: Number(user.id), subtype, amount: D(amount), apiKeyId: opts.apiKeyId ? Number(opts.apiKeyId) : null }),
  );
  if (opts.at) await prisma.ledgerTransaction.update({ where: { id: row.id }, data: { createdAt: opts.at } });
  return row;
}

/** An on-chain deposit still waiting for confirmations: listed, but not in the balance. */
async function pendingDeposit(user: TestUser, amount: string) {
  return prisma.ledgerTransaction.create({
    data: { userId: Number(user.id), type: 'deposit', subtype: 1, subtypeLabel: 'USDT', amount: D(amount), status: 'pending', txHash: `0x${Math.random().toString(16).slice(2)}`, chainId: 1 },
  });
}

async function credit(user: TestUser, amount: string) {
  const res = await server.ok(AdjustBalance, { userId: user.id, amount, note: 'test credit' }, as(admin));
  expect(res.adjustBalance.__typename).toBe('MutationAdjustBalanceSuccess');
}

const remainingFor = async (auth: { token?: string; apiKey?: string }) => (await server.ok(Usage, {}, auth)).usage.remaining;

async function inputError(result: Promise<{ errors?: readonly { extensions?: Record<string, unknown> }[]; data?: unknown }>) {
  const res = await result;
  expect(res.data ?? null).toBeNull();
  return res.errors?.[0]?.extensions;
}

describe('spending windows', () => {
  it('sums spend exactly per UTC day, ISO week and calendar month, at the window boundaries, for the account and each key', async () => {
    const user = await verifiedUser(server, smtp);
    const a = (await createKeyOk(server, user, { name: 'A', dailyLimit: '2' })).apiKey;
    await server.ok(UpdateKey, { id: a.id, input: { monthlyLimit: '1000' } }, as(user));
    const b = (await createKeyOk(server, user, { name: 'B' })).apiKey;
    const gone = (await createKeyOk(server, user, { name: 'Revoked' })).apiKey;
    await server.ok(UpdateAccountLimits, { input: { dailyLimit: '50', monthlyLimit: '20' } }, as(user));

    const now = new Date();
    const starts = windowStarts(now);
    const at = (d: Date, offset = 0) => new Date(d.getTime() + offset);
    // Each (key, product) once, so buckets never collide even when windows start together.
    const seeded: [string, TrafficProduct, Date, string][] = [
      [a.id, 'shared', hourOf(now), '1.250001'],
      [a.id, 'dedicated', starts.daily, '0.750002'], // first hour of today
      [b.id, 'browser', at(starts.daily, -HOUR), '3.000004'], // last hour of yesterday
      [b.id, 'shared', starts.weekly, '4.000008'], // first hour of this ISO week
      [a.id, 'browser', at(starts.weekly, -HOUR), '5.000016'], // last hour of last week (Sunday 23:00)
      [b.id, 'dedicated', starts.monthly, '6.000032'], // first hour of this month
      [gone.id, 'shared', at(starts.monthly, -HOUR), '7.000064'], // last hour of last month
      [gone.id, 'dedicated', hourOf(now), '0.100128'], // a key revoked since still spent the account's money
    ];
    for (const [key, product, hour, cost] of seeded) await bucket(user, key, product, hour, cost);
    await server.ok(RevokeKey, { id: gone.id }, as(user));
    const other = await verifiedUser(server, smtp);
    await bucket(other, (await createKeyOk(server, other)).apiKey.id, 'shared', hourOf(now), '999');

    const spent = (key: string | null, from: Date) =>
      money(seeded.filter(([k, , hour]) => (key === null || k === key) && hour >= from).reduce((sum, [, , , cost]) => sum.plus(cost), D(0)));
    const windows = (key: string | null) => ({ daily: spent(key, starts.daily), weekly: spent(key, starts.weekly), monthly: spent(key, starts.monthly) });

    const { keyUsage } = await server.ok(KeyUsage, {}, as(user));
    // Today: the first-hour and current-hour buckets, plus the week's and the month's first hours
    // on a Monday and on the 1st; yesterday's last hour and last month's never.
    const today = D('2.100131')
      .plus(starts.weekly.getTime() === starts.daily.getTime() ? '4.000008' : 0)
      .plus(starts.monthly.getTime() === starts.daily.getTime() ? '6.000032' : 0);
    expect(keyUsage.global.used.daily).toBe(money(today));
    expect(keyUsage.global.used).toEqual(windows(null));
    expect(D(keyUsage.global.used.monthly).gte(D('8.100163'))).toBe(true);
    expect(keyUsage.global.limits).toEqual({ daily: '50.000000', weekly: null, monthly: '20.000000' });
    expect(keyUsage.global.remaining).toEqual({
      daily: money(D(50).minus(today)),
      weekly: null,
      monthly: money(Prisma.Decimal.max(D(20).minus(windows(null).monthly), 0)),
    });

    expect(keyUsage.keys.map((k) => k.name)).toEqual(['A', 'B']);
    const [ka, kb] = keyUsage.keys;
    expect(ka).toMatchObject({ id: a.id, used: windows(a.id), limits: { daily: '2.000000', weekly: null, monthly: '1000.000000' } });
    // 2.000003 spent today under a 2.000000 limit: nothing left, never negative.
    expect(ka!.used.daily).toBe('2.000003');
    expect(ka!.remaining).toEqual({ daily: '0.000000', weekly: null, monthly: money(D(1000).minus(windows(a.id).monthly)) });
    expect(kb).toMatchObject({ id: b.id, used: windows(b.id), limits: { daily: null, weekly: null, monthly: null }, remaining: { daily: null, weekly: null, monthly: null } });
  });

  it('draws the same boundaries on any date: a mid-month Wednesday, and a week that began last month (fixed clock)', async () => {
    const user = await verifiedUser(server, smtp);
    const { apiKey } = await createKeyOk(server, user, { name: 'Clock' });
    const utc = (s: string) => new Date(`${s}Z`);
    // Powers of two: every sum names the buckets in it.
    const seeded: [TrafficProduct, string, string][] = [
      ['shared', '2026-03-18T14:00', '1'], // today, current hour
      ['dedicated', '2026-03-18T00:00', '2'], // today, first hour
      ['browser', '2026-03-17T23:00', '4'], // yesterday's last hour: this week
      ['shared', '2026-03-16T00:00', '8'], // Monday 00:00: first hour of the ISO week
      ['shared', '2026-03-15T23:00', '16'], // Sunday 23:00: last week, this month
      ['dedicated', '2026-03-01T00:00', '32'], // first hour of the month
      ['browser', '2026-02-28T23:00', '64'], // last month
    ];
    for (const [product, hour, cost] of seeded) await bucket(user, apiKey.id, product, utc(hour), cost);

    const wednesday = await usageOverview(Number(user.id), utc('2026-03-18T14:30'));
    const used = { daily: D(3), weekly: D(15), monthly: D(63) };
    expect(wednesday.global.used).toEqual(used);
    expect(wednesday.keys).toEqual([expect.objectContaining({ name: 'Clock', used })]);

    // Windows have no upper end (traffic is never in the future), so the later clock gets its own account.
    const later = await verifiedUser(server, smtp);
    await bucket(later, (await createKeyOk(server, later)).apiKey.id, 'shared', utc('2026-03-30T12:00'), '128'); // Monday of a week ending in April
    expect((await usageOverview(Number(later.id), utc('2026-03-31T23:59'))).global.used).toEqual({ daily: D(0), weekly: D(128), monthly: D(128) });
    expect((await usageOverview(Number(later.id), utc('2026-04-01T00:00'))).global.used).toEqual({ daily: D(0), weekly: D(128), monthly: D(0) });

    const daily = await dailyUsage(Number(user.id), 3, utc('2026-03-18T14:30'));
    expect(daily.daily.map((d) => [d.date, d.shared.toFixed(), d.dedicated.toFixed(), d.browser.toFixed(), d.total.toFixed()])).toEqual([
      ['2026-03-16', '8', '0', '0', '8'],
      ['2026-03-17', '0', '0', '4', '4'],
      ['2026-03-18', '1', '2', '0', '3'],
    ]);
    expect(daily.hourly.filter((h) => !h.total.isZero()).map((h) => [h.hour, h.total.toFixed()])).toEqual([
      [0, '2'],
      [14, '1'],
    ]);
  });

  it("gives remaining credit as the lowest of balance, account limits left and, for a key caller, that key's limits left", async () => {
    const user = await verifiedUser(server, smtp);
    const k1 = await createKeyOk(server, user, { name: 'K1', dailyLimit: '5' });
    const k2 = await createKeyOk(server, user, { name: 'K2' });
    await credit(user, '100');
    await server.ok(UpdateAccountLimits, { input: { dailyLimit: '30' } }, as(user));
    const hour = hourOf(new Date());
    await bucket(user, k1.apiKey.id, 'shared', hour, '2.5');
    await bucket(user, k2.apiKey.id, 'dedicated', hour, '10');

    // account: 30 − 12.5 left today; K1: 5 − 2.5; K2 has no limits of its own.
    expect(await remainingFor(as(user))).toBe('17.500000');
    expect(await remainingFor({ apiKey: k1.key })).toBe('2.500000');
    expect(await remainingFor({ apiKey: k2.key })).toBe('17.500000');

    await server.ok(UpdateAccountLimits, { input: { dailyLimit: null } }, as(user));
    expect(await remainingFor(as(user))).toBe('100.000000');
    expect(await remainingFor({ apiKey: k2.key })).toBe('100.000000');
    expect(await remainingFor({ apiKey: k1.key })).toBe('2.500000');

    await server.ok(AdjustBalance, { userId: user.id, amount: '-99', note: 'spend most' }, as(admin));
    expect(await remainingFor(as(user))).toBe('1.000000');
    expect(await remainingFor({ apiKey: k1.key })).toBe('1.000000');

    await bucket(user, k1.apiKey.id, 'browser', hour, '3'); // K1 now 5.5 over a 5 limit
    expect(await remainingFor({ apiKey: k1.key })).toBe('0.000000');
    expect(await remainingFor(as(user))).toBe('1.000000');

    await server.ok(UpdateAccountLimits, { input: { weeklyLimit: '15.5' } }, as(user)); // exactly this week's spend
    expect(await remainingFor(as(user))).toBe('0.000000');
    expect(await remainingFor({ apiKey: k2.key })).toBe('0.000000');
  });
});

describe('daily usage', () => {
  it('lists every date of the window, zero-filled, with cost per product, confirmed deposits and bytes; and today per hour', async () => {
    const user = await verifiedUser(server, smtp);
    const { apiKey } = await createKeyOk(server, user);
    const second = (await createKeyOk(server, user, { name: 'second' })).apiKey;
    const now = new Date();
    const today = windowStarts(now).daily;
    const day = (offset: number) => new Date(today.getTime() + offset * DAY).toISOString().slice(0, 10);
    await bucket(user, apiKey.id, 'shared', today, '1.000001', 1_000n);
    await bucket(user, apiKey.id, 'dedicated', hourOf(now), '2', 2_000_000_000_001n);
    await bucket(user, second.id, 'shared', hourOf(now), '0.000002');
    await bucket(user, apiKey.id, 'browser', new Date(today.getTime() - 2 * DAY + 5 * HOUR), '0.5', 3_000_000_000n);
    await bucket(user, apiKey.id, 'shared', new Date(today.getTime() - 10 * DAY), '7');
    await bucket(user, apiKey.id, 'shared', new Date(today.getTime() - 90 * DAY), '11'); // day 91: never shown
    await entry(user, 'deposit_usdt', '50');
    await entry(user, 'deposit_eth', '10', { at: new Date(today.getTime() - 2 * DAY + HOUR) });
    await pendingDeposit(user, '20');
    await credit(user, '5'); // an adjustment, not a deposit

    const week = (await server.ok(DailyUsage, {}, as(user))).dailyUsage;
    expect(week.daily.map((d) => d.date)).toEqual([-6, -5, -4, -3, -2, -1, 0].map(day));
    const zero = { shared: '0.000000', dedicated: '0.000000', browser: '0.000000', total: '0.000000', deposits: '0.000000', bytes: { shared: '0', dedicated: '0', browser: '0', total: '0' } };
    for (const d of week.daily.filter((d) => d.date !== day(0) && d.date !== day(-2))) expect(d).toEqual({ date: d.date, ...zero });
    expect(week.daily[6]).toEqual({
      date: day(0),
      shared: '1.000003',
      dedicated: '2.000000',
      browser: '0.000000',
      total: '3.000003',
      deposits: '50.000000',
      bytes: { shared: '1000', dedicated: '2000000000001', browser: '0', total: '2000000001001' },
    });
    expect(week.daily[4]).toEqual({
      date: day(-2),
      ...zero,
      browser: '0.500000',
      total: '0.500000',
      deposits: '10.000000',
      bytes: { shared: '0', dedicated: '0', browser: '3000000000', total: '3000000000' },
    });

    expect(week.hourly.map((h) => h.hour)).toEqual([...Array(24).keys()]);
    const current = now.getUTCHours();
    const hourly = (h: number) => week.hourly[h]!;
    if (current === 0) {
      expect(hourly(0)).toMatchObject({ shared: '1.000003', dedicated: '2.000000', total: '3.000003', deposits: '50.000000' });
    } else {
      expect(hourly(0)).toEqual({ hour: 0, shared: '1.000001', dedicated: '0.000000', browser: '0.000000', total: '1.000001', deposits: '0.000000' });
      expect(hourly(current)).toEqual({ hour: current, shared: '0.000002', dedicated: '2.000000', browser: '0.000000', total: '2.000002', deposits: '50.000000' });
    }
    const otherHours = week.hourly.filter((h) => h.hour !== 0 && h.hour !== current);
    expect(otherHours.every((h) => h.total === '0.000000' && h.deposits === '0.000000')).toBe(true);

    const ninety = (await server.ok(DailyUsage, { days: 90 }, as(user))).dailyUsage.daily;
    expect(ninety).toHaveLength(90);
    expect(ninety[0]!.date).toBe(day(-89));
    expect(ninety.find((d) => d.date === day(-10))).toMatchObject({ shared: '7.000000', total: '7.000000' });
    expect(ninety.reduce((sum, d) => sum.plus(d.total), D(0)).toFixed(6)).toBe('10.500003');

    const one = (await server.ok(DailyUsage, { days: 1 }, as(user))).dailyUsage.daily;
    expect(one).toEqual([week.daily[6]]);
    expect((await server.ok(DailyUsage, { days: null }, as(user))).dailyUsage.daily).toHaveLength(7);
  });

  it('refuses days outside 1..90, naming the argument', async () => {
    const user = await verifiedUser(server, smtp);
    for (const days of [0, 91, -3]) {
      expect(await inputError(server.gql(DailyUsage, { days }, as(user)))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'days' });
    }
  });
});

describe('balance summary', () => {
  it('sums confirmed transactions per type and per subtype, next to the balance', async () => {
    const user = await verifiedUser(server, smtp);
    const { apiKey } = await createKeyOk(server, user);
    await credit(user, '100');
    await server.ok(AdjustBalance, { userId: user.id, amount: '-10', note: 'correction' }, as(admin));
    await entry(user, 'deposit_usdt', '200');
    await entry(user, 'deposit_usdt', '50.000001');
    await entry(user, 'deposit_online', '25');
    await entry(user, 'consumption_shared', '-30', { apiKeyId: apiKey.id });
    await entry(user, 'consumption_shared', '-15.000001', { apiKeyId: apiKey.id });
    await entry(user, 'consumption_dedicated', '-5', { apiKeyId: apiKey.id });
    await pendingDeposit(user, '1000');

    const { balanceSummary } = await server.ok(BalanceSummary, {}, as(user));
    expect(balanceSummary).toEqual({
      balance: '315.000000',
      summary: {
        deposit: {
          total: '275.000001',
          count: 3,
          bySubtype: [
            { subtype: 1, label: 'USDT', total: '250.000001', count: 2 },
            { subtype: 2, label: 'Paiement en ligne', total: '25.000000', count: 1 },
          ],
        },
        consumption: {
          total: '-50.000001',
          count: 3,
          bySubtype: [
            { subtype: 10, label: 'Mutualisé', total: '-45.000001', count: 2 },
            { subtype: 11, label: 'Dédié', total: '-5.000000', count: 1 },
          ],
        },
        adjustment: {
          total: '90.000000',
          count: 2,
          bySubtype: [
            { subtype: 20, label: 'Crédit manuel', total: '100.000000', count: 1 },
            { subtype: 21, label: 'Débit manuel', total: '-10.000000', count: 1 },
          ],
        },
      },
    });
    const fresh = await verifiedUser(server, smtp);
    const empty = { total: '0.000000', count: 0, bySubtype: [] };
    expect((await server.ok(BalanceSummary, {}, as(fresh))).balanceSummary).toEqual({
      balance: '0.000000',
      summary: { deposit: empty, consumption: empty, adjustment: empty },
    });
  });
});

describe('transactions', () => {
  let owner: TestUser;
  let k1: string;
  let k2: string;
  let ids: string[];

  beforeAll(async () => {
    owner = await verifiedUser(server, smtp);
    k1 = (await createKeyOk(server, owner, { name: 'K1' })).apiKey.id;
    k2 = (await createKeyOk(server, owner, { name: 'K2' })).apiKey.id;
    await credit(owner, '100');
    for (let i = 0; i < 12; i++) await entry(owner, 'consumption_shared', '-0.5', { apiKeyId: k1 });
    for (let i = 0; i < 5; i++) await entry(owner, 'consumption_dedicated', '-1', { apiKeyId: k2 });
    await entry(owner, 'deposit_usdt', '10');
    await entry(owner, 'deposit_online', '5');
    await pendingDeposit(owner, '20');
    await server.ok(AdjustBalance, { userId: owner.id, amount: '-1', note: 'fee' }, as(admin));
    const rows = await prisma.ledgerTransaction.findMany({ where: { userId: Number(owner.id) }, orderBy: { id: 'desc' }, select: { id: true } });
    ids = rows.map((r) => String(r.id));
    expect(ids).toHaveLength(22);
  });

  it('pages newest first, 20 by default, with the total over all pages', async () => {
    const first = (await server.ok(Transactions, {}, as(owner))).transactions;
    expect(first).toMatchObject({ total: 22, page: 1, limit: 20 });
    expect(first.items.map((t) => t.id)).toEqual(ids.slice(0, 20));
    expect(first.items[0]).toMatchObject({ type: 'adjustment', subtype: 21, subtypeLabel: 'Débit manuel', amount: '-1.000000', note: 'fee', apiKeyId: null, apiKeyName: null });
    expect(first.items[1]).toMatchObject({ type: 'deposit', status: 'pending', amount: '20.000000' });
    const second = (await server.ok(Transactions, { page: 2 }, as(owner))).transactions;
    expect(second).toMatchObject({ total: 22, page: 2, limit: 20 });
    expect(second.items.map((t) => t.id)).toEqual(ids.slice(20));
    const third = (await server.ok(Transactions, { page: 3, limit: 10 }, as(owner))).transactions;
    expect(third.items.map((t) => t.id)).toEqual(ids.slice(20));
    expect((await server.ok(Transactions, { page: 4, limit: 10 }, as(owner))).transactions).toEqual({ total: 22, page: 4, limit: 10, items: [] });
    expect((await server.ok(Transactions, { limit: 100 }, as(owner))).transactions.items).toHaveLength(22);
  });

  it('filters by type, subtype and key, combined, naming the key', async () => {
    const list = async (vars: TransactionsQueryVariables) => (await server.ok(Transactions, { limit: 100, ...vars }, as(owner))).transactions;
    expect((await list({ type: 'consumption' })).total).toBe(17);
    expect((await list({ type: 'deposit' })).items.map((t) => t.status)).toEqual(['pending', 'confirmed', 'confirmed']);
    const dedicated = await list({ subtype: 11 });
    expect(dedicated.total).toBe(5);
    expect(dedicated.items.every((t) => t.apiKeyId === k2 && t.apiKeyName === 'K2' && t.subtypeLabel === 'Dédié')).toBe(true);
    const byKey = await list({ apiKeyId: k1 });
    expect(byKey.total).toBe(12);
    expect(byKey.items.every((t) => t.apiKeyName === 'K1' && t.amount === '-0.500000')).toBe(true);
    expect((await list({ type: 'consumption', apiKeyId: k2 })).total).toBe(5);
    expect((await list({ type: 'deposit', apiKeyId: k2 })).total).toBe(0);
    expect((await list({ type: 'consumption', subtype: 10, apiKeyId: k2 })).total).toBe(0);
  });

  it('refuses page 0, limit 0 or 101, an unknown type and a malformed key id, naming the argument', async () => {
    const cases = [
      [{ page: 0 }, 'page'],
      [{ page: -1 }, 'page'],
      [{ limit: 0 }, 'limit'],
      [{ limit: 101 }, 'limit'],
      [{ apiKeyId: 'abc' }, 'apiKeyId'],
    ] as const;
    for (const [vars, field] of cases) {
      expect(await inputError(server.gql(Transactions, vars, as(owner)))).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const badType = await server.gql(Transactions, { type: 'example' as 'deposit' }, as(owner));
    expect(badType.errors?.[0]?.message).toMatch(/"example" does not exist in "TransactionType"/);
    expect(badType.data).toBeUndefined();
  });

  it("returns nothing for another user's key id, and never another user's rows", async () => {
    const other = await verifiedUser(server, smtp);
    const otherKey = (await createKeyOk(server, other)).apiKey.id;
    await credit(other, '3');
    await entry(other, 'consumption_shared', '-1', { apiKeyId: otherKey });
    expect((await server.ok(Transactions, { apiKeyId: k1 }, as(other))).transactions).toEqual({ total: 0, page: 1, limit: 20, items: [] });
    expect((await server.ok(Transactions, { apiKeyId: otherKey }, as(owner))).transactions).toMatchObject({ total: 0, items: [] });
    const mine = (await server.ok(Transactions, { limit: 100 }, as(other))).transactions;
    expect(mine.total).toBe(2);
    expect(mine.items.some((t) => ids.includes(t.id))).toBe(false);
  });
});

describe('account settings', () => {
  it('shows the defaults, then updates limits: omitted ones stay, null removes one, negative is refused', async () => {
    const user = await verifiedUser(server, smtp);
    expect((await server.ok(AccountSettings, {}, as(user))).accountSettings).toEqual({
      dailyLimit: null,
      weeklyLimit: null,
      monthlyLimit: null,
      alertLowBalance: true,
      alertThreshold: '50.000000',
      autoReloadEnabled: false,
      autoReloadThreshold: '10.000000',
      autoReloadAmount: '50.000000',
      saveCardConsent: false,
      webhookUrl: null,
      webhookEvents: { balanceLow: false, deposit: false, dailyUsage: false },
      webhookSecret: null,
    });

    const set = await server.ok(UpdateAccountLimits, { input: { dailyLimit: '10', weeklyLimit: '50.5' } }, as(user));
    expect(set.updateAccountLimits).toEqual({ __typename: 'MutationUpdateAccountLimitsSuccess', data: { dailyLimit: '10.000000', weeklyLimit: '50.500000', monthlyLimit: null } });
    const monthly = await server.ok(UpdateAccountLimits, { input: { monthlyLimit: '100' } }, as(user));
    expect(monthly.updateAccountLimits).toMatchObject({ data: { dailyLimit: '10.000000', weeklyLimit: '50.500000', monthlyLimit: '100.000000' } });
    const cleared = await server.ok(UpdateAccountLimits, { input: { dailyLimit: null } }, as(user));
    expect(cleared.updateAccountLimits).toMatchObject({ data: { dailyLimit: null, weeklyLimit: '50.500000', monthlyLimit: '100.000000' } });

    const negative = await server.ok(UpdateAccountLimits, { input: { weeklyLimit: '-1', monthlyLimit: '5' } }, as(user));
    expect(negative.updateAccountLimits).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT', field: 'weeklyLimit' });
    const precise = await server.gql(UpdateAccountLimits, { input: { dailyLimit: '0.0000001' } }, as(user));
    expect(precise.errors?.[0]?.message).toMatch(/at most 6 decimals/);
    expect((await server.ok(AccountSettings, {}, as(user))).accountSettings).toMatchObject({ dailyLimit: null, weeklyLimit: '50.500000', monthlyLimit: '100.000000' });

    const other = await verifiedUser(server, smtp);
    expect((await server.ok(AccountSettings, {}, as(other))).accountSettings).toMatchObject({ dailyLimit: null, weeklyLimit: null, monthlyLimit: null });
    expect((await server.ok(KeyUsage, {}, as(user))).keyUsage.global.limits).toEqual({ daily: null, weekly: '50.500000', monthly: '100.000000' });
  });
});

describe('isolation and access', () => {
  it("never shows another user's usage, keys, money or settings", async () => {
    const rich = await verifiedUser(server, smtp);
    const { apiKey } = await createKeyOk(server, rich, { name: 'Rich key' });
    await credit(rich, '500');
    await entry(rich, 'deposit_usdt', '20');
    await bucket(rich, apiKey.id, 'shared', hourOf(new Date()), '3');
    await server.ok(UpdateAccountLimits, { input: { dailyLimit: '40' } }, as(rich));

    const poor = await verifiedUser(server, smtp);
    expect((await server.ok(Usage, {}, as(poor))).usage.remaining).toBe('0.000000');
    expect((await server.ok(KeyUsage, {}, as(poor))).keyUsage).toEqual({
      global: {
        limits: { daily: null, weekly: null, monthly: null },
        used: { daily: '0.000000', weekly: '0.000000', monthly: '0.000000' },
        remaining: { daily: null, weekly: null, monthly: null },
      },
      keys: [],
    });
    const daily = (await server.ok(DailyUsage, { days: 2 }, as(poor))).dailyUsage;
    expect([...daily.daily, ...daily.hourly].every((p) => p.total === '0.000000' && p.deposits === '0.000000')).toBe(true);
    expect((await server.ok(BalanceSummary, {}, as(poor))).balanceSummary.summary.deposit.count).toBe(0);
    expect((await server.ok(Transactions, {}, as(poor))).transactions.total).toBe(0);
    expect((await server.ok(Usage, {}, as(rich))).usage.remaining).toBe('37.000000');
  });

  it('needs the billing scope for money and usage, the account scope for settings, and a caller for all', async () => {
    const user = await verifiedUser(server, smtp);
    const scoped = async (scopes: ('account' | 'keys' | 'billing' | 'proxy')[]) => {
      const res = await server.ok(CreateKey, { input: { name: scopes.join('+'), scopes } }, as(user));
      if (res.createApiKey.__typename !== 'MutationCreateApiKeySuccess') throw new Error('create failed');
      return { apiKey: res.createApiKey.data.key };
    };
    const proxyOnly = await scoped(['proxy']);
    const billing = await scoped(['billing']);
    const reads = [Usage, KeyUsage, BalanceSummary, Transactions, DailyUsage] as const;
    for (const doc of reads) {
      expect((await server.gql(doc as typeof Usage, {}, proxyOnly)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await server.gql(doc as typeof Usage, {}, billing)).errors).toBeUndefined();
      expect((await server.gql(doc as typeof Usage, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    expect((await server.gql(AccountSettings, {}, billing)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const write = await server.gql(UpdateAccountLimits, { input: { dailyLimit: '1' } }, billing);
    expect(write.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await server.gql(AccountSettings, {}, await scoped(['account']))).errors).toBeUndefined();
    expect((await server.gql(UpdateAccountLimits, { input: { dailyLimit: '1' } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await server.ok(AccountSettings, {}, as(user))).accountSettings.dailyLimit).toBeNull();
  });
});
