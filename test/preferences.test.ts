import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { graphql } from '../src/generated/graphql/index.js';

/**
 * What GraphQL gained for the REST layer: alert and webhook settings, display currency and
 * locale, exchange rates, and the capabilities of later issues (wallet sign-in, deposits,
 * webhook delivery), which answer a typed NOT_AVAILABLE_YET after checking their input.
 */

const UpdateAlerts = graphql(`
  mutation UpdateAlerts($input: AlertSettingsInput!) {
    updateAlertSettings(input: $input) {
      __typename
      ... on MutationUpdateAlertSettingsSuccess { data { alertLowBalance alertThreshold autoReloadEnabled autoReloadThreshold autoReloadAmount saveCardConsent } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

const UpdateWebhook = graphql(`
  mutation UpdateWebhook($url: String, $events: WebhookEventsInput!) {
    updateWebhook(url: $url, events: $events) {
      __typename
      ... on MutationUpdateWebhookSuccess { data { webhookUrl webhookSecret webhookEvents { balanceLow deposit dailyUsage } } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

const RotateSecret = graphql(`
  mutation RotateSecret {
    rotateWebhookSecret { webhookSecret }
  }
`);

const TestWebhook = graphql(`
  mutation TestWebhook {
    testWebhook {
      __typename
      ... on Error { code message }
    }
  }
`);

const WalletNonce = graphql(`
  mutation WalletNonce($address: String!) {
    walletNonce(address: $address) {
      __typename
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

const SubmitDeposit = graphql(`
  mutation SubmitDeposit($input: SubmitDepositInput!) {
    submitDeposit(input: $input) {
      __typename
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

const UserSettings = graphql(`
  mutation UserSettings($input: UserSettingsInput!) {
    updateUserSettings(input: $input) {
      __typename
      ... on MutationUpdateUserSettingsSuccess { data { displayCurrency locale } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

const Rates = graphql(`
  query Rates($base: String) {
    currencies
    locales { code name nativeName }
    exchangeRates(base: $base) {
      __typename
      ... on QueryExchangeRatesSuccess { data { base rates { currency rate source } } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

let server: TestServer;
let smtp: TestSmtp;
let user: TestUser;
let feed: http.Server;
let feedReads = 0;

beforeAll(async () => {
  smtp = await startSmtp();
  // A rates feed in the shape of the common rate APIs, based on EUR.
  feed = http.createServer((_req, res) => {
    feedReads++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ base_code: 'EUR', rates: { EUR: 1, USD: 1.25, GBP: 0.5, UAH: '50', BTC: 0.00001, TRY: -3 } }));
  });
  await new Promise<void>((resolve) => feed.listen(0, '127.0.0.1', resolve));
  const feedUrl = `http://127.0.0.1:${(feed.address() as AddressInfo).port}/latest`;
  server = await startServer({ SMTP_URL: smtp.url, EXCHANGE_RATES_URL: feedUrl });
  user = await verifiedUser(server, smtp);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
  feed?.close();
});

const as = (u: TestUser) => ({ token: u.accessToken });

describe('alert and webhook settings', () => {
  it('updates alerts and automatic reload; omitted fields stay; bad amounts name the field', async () => {
    const first = await server.ok(UpdateAlerts, { input: { alertThreshold: '12.5', autoReloadEnabled: true } }, as(user));
    expect(first.updateAlertSettings).toMatchObject({
      data: { alertLowBalance: true, alertThreshold: '12.500000', autoReloadEnabled: true, autoReloadThreshold: '10.000000', autoReloadAmount: '50.000000', saveCardConsent: false },
    });
    const zero = await server.ok(UpdateAlerts, { input: { autoReloadAmount: '0' } }, as(user));
    expect(zero.updateAlertSettings).toMatchObject({ code: 'BAD_USER_INPUT', field: 'autoReloadAmount' });
    const negative = await server.ok(UpdateAlerts, { input: { alertThreshold: '-1' } }, as(user));
    expect(negative.updateAlertSettings).toMatchObject({ code: 'BAD_USER_INPUT', field: 'alertThreshold' });
    const nullFlag = await server.ok(UpdateAlerts, { input: { saveCardConsent: null } }, as(user));
    expect(nullFlag.updateAlertSettings).toMatchObject({ code: 'BAD_USER_INPUT', field: 'saveCardConsent' });
  });

  it('stores the webhook, creates its secret once, rotates it, and does not deliver yet', async () => {
    const set = await server.ok(UpdateWebhook, { url: 'https://hooks.example.com/a', events: { deposit: true } }, as(user));
    if (set.updateWebhook.__typename !== 'MutationUpdateWebhookSuccess') throw new Error(JSON.stringify(set));
    const secret = set.updateWebhook.data.webhookSecret!;
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(set.updateWebhook.data.webhookEvents).toEqual({ balanceLow: false, deposit: true, dailyUsage: false });
    const removed = await server.ok(UpdateWebhook, { url: null, events: {} }, as(user));
    expect(removed.updateWebhook).toMatchObject({ data: { webhookUrl: null, webhookSecret: secret } });
    const rotated = await server.ok(RotateSecret, {}, as(user));
    expect(rotated.rotateWebhookSecret.webhookSecret).not.toBe(secret);
    const bad = await server.ok(UpdateWebhook, { url: 'https://user:pw@hooks.example.com', events: {} }, as(user));
    expect(bad.updateWebhook).toMatchObject({ code: 'BAD_USER_INPUT', field: 'url' });
    const test = await server.ok(TestWebhook, {}, as(user));
    expect(test.testWebhook).toEqual({ __typename: 'NotAvailableYetError', code: 'NOT_AVAILABLE_YET', message: 'Webhook delivery is not available yet.' });
  });
});

describe('capabilities of later issues', () => {
  it('wallet sign-in checks the address, then is not available yet', async () => {
    const bad = await server.ok(WalletNonce, { address: 'example' });
    expect(bad.walletNonce).toMatchObject({ __typename: 'ValidationError', field: 'address' });
    const ok = await server.ok(WalletNonce, { address: `0x${'1'.repeat(40)}` });
    expect(ok.walletNonce).toMatchObject({ __typename: 'NotAvailableYetError', code: 'NOT_AVAILABLE_YET' });
  });

  it('deposits check the submission, need a caller, then are not available yet', async () => {
    const input = { txHash: `0x${'d'.repeat(64)}`, currency: 'ETH', chainId: 8453 };
    expect((await server.gql(SubmitDeposit, { input })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await server.ok(SubmitDeposit, { input: { ...input, currency: 'doge' } }, as(user))).submitDeposit).toMatchObject({ field: 'currency' });
    expect((await server.ok(SubmitDeposit, { input }, as(user))).submitDeposit).toMatchObject({ code: 'NOT_AVAILABLE_YET' });
  });
});

describe('display currency, locales and exchange rates', () => {
  it('lists currencies and locales publicly, and rates against any supported base', async () => {
    const usd = await server.ok(Rates, {});
    expect(usd.currencies).toHaveLength(15);
    expect(usd.locales.map((l) => l.code)).toEqual(['en', 'fr', 'uk']);
    if (usd.exchangeRates.__typename !== 'QueryExchangeRatesSuccess') throw new Error('no rates');
    expect(usd.exchangeRates.data.base).toBe('USD');
    expect(usd.exchangeRates.data.rates.find((r) => r.currency === 'USD')).toEqual({ currency: 'USD', rate: '1', source: 'default' });
    // From the feed, converted to USD; what it lacks (or gives wrong) keeps its default.
    const rate = (c: string) => (usd.exchangeRates.__typename === 'QueryExchangeRatesSuccess' ? usd.exchangeRates.data.rates.find((r) => r.currency === c) : null);
    expect(rate('EUR')).toMatchObject({ rate: '0.8', source: expect.stringMatching(/^feed:127\.0\.0\.1:\d+$/) });
    expect(rate('GBP')).toMatchObject({ rate: '0.4' });
    expect(rate('UAH')).toMatchObject({ rate: '40' });
    expect(rate('TRY')).toMatchObject({ source: 'default' });
    const chf = await server.ok(Rates, { base: 'chf' });
    expect(chf.exchangeRates).toMatchObject({ data: { base: 'CHF' } });
    const bad = await server.ok(Rates, { base: 'BTC' });
    expect(bad.exchangeRates).toMatchObject({ __typename: 'ValidationError', field: 'base' });
    // Read once per period (EXCHANGE_RATES_REFRESH, an hour by default), not per request.
    expect(feedReads).toBe(1);
  });

  it('sets the display currency and locale of the caller, with a key too', async () => {
    const { key } = await createKeyOk(server, user);
    const set = await server.ok(UserSettings, { input: { currency: 'pln', locale: 'fr' } }, { apiKey: key, header: 'x-api-key' });
    expect(set.updateUserSettings).toMatchObject({ data: { displayCurrency: 'PLN', locale: 'fr' } });
    expect((await server.ok(UserSettings, { input: { locale: 'de' } }, as(user))).updateUserSettings).toMatchObject({ field: 'locale' });
    expect((await server.ok(UserSettings, { input: {} }, as(user))).updateUserSettings).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});
