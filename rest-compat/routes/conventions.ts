import { z } from 'zod';
import {
  RestCurrenciesDocument,
  RestExchangeRatesDocument,
  RestLocalesDocument,
  RestUpdateUserSettingsDocument,
} from '../../src/generated/graphql/graphql.js';
import { num } from '../json.js';
import { defineRoute, errorOf, type AnyRoute } from '../route.js';

/**
 * The cross-cutting conventions (shared/seeds/002_…) Relais serves on their own paths:
 * locales, currencies and exchange rates, the display currency. Errors here are the
 * conventions' body: `{ "message": "<translation.key>", "path", "timestamp" }`.
 */
const TAG = 'Conventions';

export const conventionsRoutes: AnyRoute[] = [
  defineRoute({
    family: 'conventions',
    method: 'GET',
    path: '/locales',
    tag: TAG,
    summary: 'Supported locales (fp-locale header values)',
    auth: false,
    response: z.object({ locales: z.array(z.object({ code: z.string(), name: z.string(), nativeName: z.string() }).strict()) }).strict(),
    operation: RestLocalesDocument,
    variables: () => ({}),
    result: ({ locales }) => ({ body: { locales: locales.map((l) => ({ code: l.code, name: l.name, nativeName: l.nativeName })) } }),
  }),
  defineRoute({
    family: 'conventions',
    method: 'GET',
    path: '/currencies',
    tag: TAG,
    summary: 'Supported display currencies',
    auth: false,
    response: z.object({ currencies: z.array(z.string()) }).strict(),
    operation: RestCurrenciesDocument,
    variables: () => ({}),
    result: ({ currencies }) => ({ body: { currencies } }),
  }),
  // Rates are numbers with at most 8 decimals, exact from the table (1 base = N target).
  defineRoute({
    family: 'conventions',
    method: 'GET',
    path: '/currencies/rates',
    tag: TAG,
    summary: 'Latest exchange rates keyed by currency code',
    auth: false,
    query: z.object({ base: z.string().optional().describe('Base currency code (one of GET /currencies, case-insensitive). Defaults to USD.') }),
    response: z.object({ base: z.string(), rates: z.record(z.string(), z.number()) }).strict(),
    operation: RestExchangeRatesDocument,
    variables: ({ query }) => ({ base: query.base ?? null }),
    result: ({ exchangeRates: r }) =>
      r.__typename === 'QueryExchangeRatesSuccess'
        ? { body: { base: r.data.base, rates: Object.fromEntries(r.data.rates.map((x) => [x.currency, num(x.rate)])) } }
        : errorOf(r),
    messages: { BAD_USER_INPUT: 'currency.invalid_base' },
  }),
  // The document gives the request only; the answer is the resulting preferences.
  defineRoute({
    family: 'conventions',
    method: 'PATCH',
    path: '/user/settings',
    tag: TAG,
    summary: 'Set the display currency (and locale)',
    auth: true,
    body: z.object({ currency: z.string().optional(), locale: z.string().optional() }),
    response: z.object({ settings: z.object({ currency: z.string(), locale: z.string() }).strict() }).strict(),
    operation: RestUpdateUserSettingsDocument,
    variables: ({ body }) => ({ input: { currency: body.currency, locale: body.locale } }),
    result: ({ updateUserSettings: r }) =>
      r.__typename === 'MutationUpdateUserSettingsSuccess' ? { body: { settings: { currency: r.data.displayCurrency, locale: r.data.locale } } } : errorOf(r),
    messages: { 'BAD_USER_INPUT:currency': 'currency.invalid', 'BAD_USER_INPUT:locale': 'locale.invalid', BAD_USER_INPUT: 'user.invalid_settings' },
  }),
];
