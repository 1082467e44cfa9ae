import { z } from 'zod';
import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import type { Money } from '../../lib/money.js';
import * as usage from './usage.service.js';

const WindowAmounts = builder.objectRef<usage.PerWindow<Money>>('WindowAmounts').implement({
  description: 'An amount per spending window: the UTC day, the ISO week (from Monday) and the calendar month.',
  fields: (t) => ({
    daily: t.expose('daily', { type: 'Money' }),
    weekly: t.expose('weekly', { type: 'Money' }),
    monthly: t.expose('monthly', { type: 'Money' }),
  }),
});

const WindowLimits = builder.objectRef<usage.PerWindow<Money | null>>('WindowLimits').implement({
  description: 'A limit (or what is left under it) per spending window; null where there is no limit.',
  fields: (t) => ({
    daily: t.expose('daily', { type: 'Money', nullable: true }),
    weekly: t.expose('weekly', { type: 'Money', nullable: true }),
    monthly: t.expose('monthly', { type: 'Money', nullable: true }),
  }),
});

const SpendingUsage = builder.objectRef<usage.WindowUsage>('SpendingUsage').implement({
  description: 'Spending limits, traffic spent and what is left under each limit (never below zero).',
  fields: (t) => ({
    limits: t.field({ type: WindowLimits, resolve: (u) => u.limits }),
    used: t.field({ type: WindowAmounts, resolve: (u) => u.used }),
    remaining: t.field({ type: WindowLimits, resolve: (u) => u.remaining }),
  }),
});

const KeySpendingUsage = builder.objectRef<usage.KeyWindowUsage>('KeySpendingUsage').implement({
  description: "One API key's own limits, what traffic through it spent, and what is left.",
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    limits: t.field({ type: WindowLimits, resolve: (u) => u.limits }),
    used: t.field({ type: WindowAmounts, resolve: (u) => u.used }),
    remaining: t.field({ type: WindowLimits, resolve: (u) => u.remaining }),
  }),
});

const KeyUsage = builder.objectRef<usage.UsageOverview>('KeyUsage').implement({
  fields: (t) => ({
    global: t.field({ type: SpendingUsage, description: 'The account-wide limits and all traffic of the account.', resolve: (o) => o.global }),
    keys: t.field({ type: [KeySpendingUsage], description: 'Active (not revoked) keys, oldest first.', resolve: (o) => o.keys }),
  }),
});

const Usage = builder.objectRef<{ remaining: Money }>('Usage').implement({
  fields: (t) => ({
    remaining: t.expose('remaining', {
      type: 'Money',
      description:
        "Credit traffic may still spend: the lowest of the balance and what is left under the account limits, and, when the caller is an API key, under that key's limits.",
    }),
  }),
});

const TrafficBytes = builder.objectRef<usage.UsagePoint['bytes']>('TrafficBytes').implement({
  description: 'Bytes carried (up plus down) per product.',
  fields: (t) => ({
    shared: t.expose('shared', { type: 'BigInt' }),
    dedicated: t.expose('dedicated', { type: 'BigInt' }),
    browser: t.expose('browser', { type: 'BigInt' }),
    total: t.expose('total', { type: 'BigInt' }),
  }),
});

const UsagePeriod = builder.interfaceRef<usage.UsagePoint>('UsagePeriod').implement({
  description: 'Traffic cost per product and deposits over one UTC day or hour.',
  fields: (t) => ({
    shared: t.expose('shared', { type: 'Money', description: 'Traffic cost on the shared pool (mutualisé).' }),
    dedicated: t.expose('dedicated', { type: 'Money', description: 'Traffic cost on dedicated IPs (dédié).' }),
    browser: t.expose('browser', { type: 'Money', description: 'Traffic cost of remote browsers (navigateur).' }),
    total: t.expose('total', { type: 'Money', description: 'shared + dedicated + browser.' }),
    deposits: t.expose('deposits', { type: 'Money', description: 'Confirmed deposits made in the period.' }),
    bytes: t.field({ type: TrafficBytes, resolve: (p) => p.bytes }),
  }),
});

const UsageDay = builder.objectRef<usage.DailyUsage['daily'][number]>('UsageDay').implement({
  interfaces: [UsagePeriod],
  isTypeOf: (p) => typeof (p as { date?: unknown }).date === 'string',
  fields: (t) => ({ date: t.exposeString('date', { description: 'The UTC date, YYYY-MM-DD.' }) }),
});

const UsageHour = builder.objectRef<usage.DailyUsage['hourly'][number]>('UsageHour').implement({
  interfaces: [UsagePeriod],
  isTypeOf: (p) => typeof (p as { hour?: unknown }).hour === 'number',
  fields: (t) => ({ hour: t.exposeInt('hour', { description: 'The UTC hour of today, 0 to 23.' }) }),
});

const DailyUsage = builder.objectRef<usage.DailyUsage>('DailyUsage').implement({
  fields: (t) => ({
    daily: t.field({ type: [UsageDay], description: 'The last `days` UTC dates including today, oldest first; days without traffic are zero.', resolve: (d) => d.daily }),
    hourly: t.field({ type: [UsageHour], description: "Today's 24 UTC hours.", resolve: (d) => d.hourly }),
  }),
});

const daysMessage = `days must be between 1 and ${usage.DAILY_USAGE_MAX_DAYS}.`;

builder.queryFields((t) => ({
  usage: t.field({
    type: Usage,
    authScopes: { scope: 'billing' },
    resolve: async (_root, _args, ctx) => {
      const viewer = viewerOf(ctx);
      return { remaining: await usage.remainingCredit(viewer.userId, viewer.apiKeyId) };
    },
  }),
  keyUsage: t.field({
    type: KeyUsage,
    description: "Spending per window against the account limits and against each active key's limits.",
    authScopes: { scope: 'billing' },
    resolve: (_root, _args, ctx) => usage.usageOverview(viewerOf(ctx).userId),
  }),
  dailyUsage: t.field({
    type: DailyUsage,
    description:
      'Traffic cost per product and deposits per UTC day, and per hour today. A bad `days` is an error with extensions.code BAD_USER_INPUT and extensions.field "days".',
    authScopes: { scope: 'billing' },
    args: {
      days: t.arg.int({
        defaultValue: 7,
        description: `1 to ${usage.DAILY_USAGE_MAX_DAYS}; null means the default.`,
        validate: z.number().int(daysMessage).min(1, daysMessage).max(usage.DAILY_USAGE_MAX_DAYS, daysMessage).nullish(),
      }),
    },
    resolve: (_root, { days }, ctx) => usage.dailyUsage(viewerOf(ctx).userId, days ?? 7),
  }),
}));
