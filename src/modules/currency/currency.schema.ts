import { builder } from '../../graphql/builder.js';
import { ValidationError } from '../../lib/errors.js';
import * as currency from './currency.service.js';

const ExchangeRateType = builder.objectRef<currency.RateEntry>('ExchangeRate').implement({
  fields: (t) => ({
    currency: t.string({ resolve: (r) => r.currency }),
    rate: t.expose('rate', { type: 'Decimal', description: `1 base = rate units of the currency, at most ${currency.RATE_SCALE} decimals.` }),
    source: t.string({ resolve: (r) => r.source, description: '"default" (seeded), "manual" (an administrator) or the name of a rates source.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const ExchangeRatesType = builder.objectRef<currency.RateTable>('ExchangeRates').implement({
  description: 'Display conversion rates; amounts are USD internally.',
  fields: (t) => ({
    base: t.exposeString('base'),
    rates: t.field({ type: [ExchangeRateType], description: 'Every supported currency, in the order of `currencies`.', resolve: (r) => r.rates }),
  }),
});

builder.queryFields((t) => ({
  currencies: t.stringList({
    description: 'Supported display currency codes. Public.',
    skipTypeScopes: true,
    resolve: () => [...currency.CURRENCIES],
  }),
  exchangeRates: t.field({
    type: ExchangeRatesType,
    description: 'Latest rates keyed by currency against `base` (default USD, case-insensitive). Public.',
    skipTypeScopes: true,
    errors: { types: [ValidationError] },
    args: { base: t.arg.string() },
    resolve: (_root, { base }) => currency.exchangeRates(base),
  }),
}));

builder.mutationField('setExchangeRate', (t) =>
  t.field({
    type: ExchangeRateType,
    description: 'Admin: sets how many units of `currency` one USD buys.',
    authScopes: { admin: true },
    errors: { types: [ValidationError] },
    args: { currency: t.arg.string({ required: true }), rate: t.arg({ type: 'Decimal', required: true }) },
    resolve: async (_root, args) => {
      const row = await currency.setExchangeRate(args.currency, args.rate);
      return { currency: row.currency as currency.Currency, rate: row.rate, source: row.source, updatedAt: row.updatedAt };
    },
  }),
);
