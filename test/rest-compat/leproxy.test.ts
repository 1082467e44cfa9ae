import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, tokenFrom, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, uniqueName, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, CreateKey, Me } from '../helpers/operations.js';
import { prisma, Prisma } from '../../src/db.js';
import { applyEntry } from '../../src/modules/ledger/ledger.service.js';
import { hourOf } from '../../src/modules/usage/windows.js';
import { ISO_Z, leproxyDoc, shapeProblems, type ShapeRules } from './shape.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;

beforeAll(async () => {
  smtp = await startSmtp();
  // The story below logs in more than 5 times a minute from one address.
  server = await startServer({ SMTP_URL: smtp.url, AUTH_RATE_LIMIT: '1000', RATE_LIMIT: '100000' });
  admin = await adminUser(server, smtp);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

interface Call {
  key?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, { key, body, headers = {} }: Call = {}) {
  const res = await fetch(server.url + path, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null, text };
}

/** The full response against the documented example of the route. */
function expectDocumented(route: string, json: unknown, rules?: ShapeRules) {
  expect(leproxyDoc.examples[route], `no documented example for ${route}`).toBeDefined();
  expect(shapeProblems(json, leproxyDoc.examples[route], rules)).toEqual([]);
}

const keyShape = (leproxyDoc.examples['GET /keys/:id'] as { key: unknown }).key;
const settingsShape = { ...(leproxyDoc.examples['GET /keys/settings'] as { settings: Record<string, unknown> }).settings, webhook_events: { balanceLow: true, deposit: true, dailyUsage: true } };
const windowsShape = (leproxyDoc.examples['GET /keys/usage'] as { global: unknown }).global as { limits: unknown; used: unknown; remaining: unknown };

/** register → mailed link → verify → log in, all through REST. */
async function restAccount(password = 'correct horse 42', headers: Record<string, string> = {}) {
  const username = uniqueName('rest');
  const email = `${username}@example.test`;
  const reg = await call('POST', '/auth/register', { body: { username, email, password }, headers });
  expect(reg.status).toBe(200);
  const mail = await smtp.waitFor(email, /confirm/i);
  const link = new URL(mail.text.match(/https?:\/\/\S+/)![0]);
  const verified = await call('GET', link.pathname + link.search);
  expect(verified.status).toBe(200);
  const login = await call('POST', '/auth/login', { body: { email, password } });
  expect(login.status).toBe(200);
  return { username, email, password, token: login.json.token as string, id: login.json.user.id as number, reg, verified, login, mail };
}

describe('Le Proxy Français: authentication', () => {
  it('registers, verifies and logs in with the documented bodies (mail in the fp-locale language)', async () => {
    const account = await restAccount('correct horse 42', { 'fp-locale': 'fr' });
    expectDocumented('POST /auth/register', account.reg.json);
    expect(account.reg.json).toEqual({ success: true, message: 'Email de confirmation envoyé' });
    expect(account.mail.subject).toBe('Confirmez votre email');
    expectDocumented('GET /auth/verify-email', account.verified.json);
    expectDocumented('POST /auth/login', account.login.json);
    expect(account.login.json.user).toEqual({ id: account.id, email: account.email });
    expect(account.token.split('.')).toHaveLength(3);
  });

  it('answers /auth/me with a key or a token, without internals', async () => {
    const account = await restAccount();
    const me = await call('GET', '/auth/me', { key: account.token });
    expect(me.status).toBe(200);
    expectDocumented('GET /auth/me', me.json);
    expect(me.json).toEqual({ user: { id: account.id, email: account.email, balance: 0 }, role: 'user', permissions: expect.arrayContaining(['keys.manage']) });

    const created = await call('POST', '/keys', { key: account.token, body: { name: 'Prod' } });
    for (const headers of [{ authorization: `Bearer ${created.json.key.key}` }, { 'x-api-key': created.json.key.key }] as Record<string, string>[]) {
      const viaKey = await call('GET', '/auth/me', { headers });
      expect(viaKey.json).toEqual(me.json);
    }
    const viaQuery = await call('GET', `/auth/me?apikey=${created.json.key.key}`);
    expect(viaQuery.json).toEqual(me.json);
  });

  it('resends verification, and never tells whether an account exists', async () => {
    for (const email of [`${uniqueName()}@example.test`, 'nobody@example.test']) {
      const res = await call('POST', '/auth/resend-verification', { body: { email } });
      expect(res.status).toBe(200);
      expectDocumented('POST /auth/resend-verification', res.json);
    }
  });

  it('resets a forgotten password from the mailed token', async () => {
    const account = await restAccount();
    const forgot = await call('POST', '/auth/forgot-password', { body: { email: account.email } });
    expectDocumented('POST /auth/forgot-password', forgot.json);
    const unknown = await call('POST', '/auth/forgot-password', { body: { email: 'nobody@example.test' } });
    expect(unknown.json).toEqual(forgot.json);
    const mail = await smtp.waitFor(account.email, /reset/i);
    const reset = await call('POST', '/auth/reset-password', { body: { token: tokenFrom(mail), password: 'a brand new secret' } });
    expect(reset.status).toBe(200);
    expectDocumented('POST /auth/reset-password', reset.json);
    expect((await call('POST', '/auth/login', { body: { email: account.email, password: 'a brand new secret' } })).status).toBe(200);
    const again = await call('POST', '/auth/reset-password', { body: { token: tokenFrom(mail), password: 'another secret 1' } });
    expect(again).toMatchObject({ status: 400, json: { code: 'INVALID_TOKEN' } });
  });

  it('changes the password of the caller; a wrong current password is 401', async () => {
    const account = await restAccount();
    const wrong = await call('POST', '/auth/change-password', { key: account.token, body: { currentPassword: 'nope nope', newPassword: 'whatever 123' } });
    expect(wrong).toMatchObject({ status: 401, json: { code: 'INVALID_CREDENTIALS' } });
    const short = await call('POST', '/auth/change-password', { key: account.token, body: { currentPassword: account.password, newPassword: 'short' } });
    expect(short).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'newPassword' } });
    const changed = await call('POST', '/auth/change-password', { key: account.token, body: { currentPassword: account.password, newPassword: 'changed secret 9' } });
    expect(changed.status).toBe(200);
    expectDocumented('POST /auth/change-password', changed.json);
    expect((await call('POST', '/auth/login', { body: { email: account.email, password: account.password } })).status).toBe(401);
  });

  it('refuses log-in before verification (403) and with a wrong password (401), in the family body', async () => {
    const username = uniqueName();
    await call('POST', '/auth/register', { body: { username, email: `${username}@example.test`, password: 'correct horse 42' } });
    const early = await call('POST', '/auth/login', { body: { email: `${username}@example.test`, password: 'correct horse 42' } });
    expect(early).toMatchObject({ status: 403, json: { code: 'EMAIL_NOT_VERIFIED', error: expect.any(String) } });
    const wrong = await call('POST', '/auth/login', { body: { email: `${username}@example.test`, password: 'wrong password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ error: 'Wrong email or password.', code: 'INVALID_CREDENTIALS' });
  });

  it('validates registration, naming the field, and refuses a taken email (409)', async () => {
    const missing = await call('POST', '/auth/register', { body: { username: 'someone' } });
    expect(missing).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'email' } });
    const badEmail = await call('POST', '/auth/register', { body: { username: uniqueName(), email: 'not-an-email', password: 'correct horse 42' } });
    expect(badEmail).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'email' } });
    const wrongType = await call('POST', '/auth/register', { body: { username: 42, email: 'a@example.test', password: 'correct horse 42' } });
    expect(wrongType).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'username' } });
    const account = await restAccount();
    const taken = await call('POST', '/auth/register', { body: { username: uniqueName(), email: account.email, password: 'correct horse 42' } });
    expect(taken).toMatchObject({ status: 409, json: { code: 'CONFLICT' } });
  });

  it('routes wallet sign-in and linking to their operations, which answer 501 until that issue lands', async () => {
    const account = await restAccount();
    const address = '0x31b6740e6a8bd1c6cad7a3b1c3b2f7a2a1d3e4f5';
    const signature = `0x${'ab'.repeat(65)}`;
    const cases = [
      await call('GET', `/auth/nonce?address=${address}`),
      await call('POST', '/auth/wallet', { body: { address, signature, message: 'Connexion a Le Proxy Francais' } }),
      await call('POST', '/auth/link-wallet', { key: account.token, body: { address, signature } }),
      await call('DELETE', '/auth/unlink-wallet', { key: account.token }),
    ];
    for (const res of cases) {
      expect(res.status).toBe(501);
      expect(res.json).toEqual({ error: 'Wallet sign-in (SIWE) is not available yet.', code: 'NOT_AVAILABLE_YET' });
    }
    // Input is still checked first, and the link needs a caller.
    expect(await call('GET', '/auth/nonce?address=example')).toMatchObject({ status: 400, json: { field: 'address' } });
    expect((await call('DELETE', '/auth/unlink-wallet')).status).toBe(401);
  });
});

describe('Le Proxy Français: keys', () => {
  let owner: Awaited<ReturnType<typeof restAccount>>;
  let key: string;

  beforeAll(async () => {
    owner = await restAccount();
    key = (await call('POST', '/keys', { key: owner.token, body: { name: 'Auth' } })).json.key.key;
  });

  it('creates a key with the documented body, limits as numbers, shown once', async () => {
    const res = await call('POST', '/keys', { key, body: { name: 'Production', daily_limit: 12.5, weekly_limit: 100, monthly_limit: 0.000001 } });
    expect(res.status).toBe(200);
    expectDocumented('POST /keys', res.json, { nullable: ['$.key.last_used_at'] });
    const k = res.json.key;
    expect(Object.keys(k)).toEqual(['id', 'name', 'key_preview', 'key', 'active', 'daily_limit', 'weekly_limit', 'monthly_limit', 'created_at', 'last_used_at']);
    expect(k).toMatchObject({ name: 'Production', active: 1, daily_limit: 12.5, weekly_limit: 100, monthly_limit: 0.000001, last_used_at: null });
    expect(k.key).toMatch(/^lpf_[0-9a-f]{32}$/);
    expect(k.key_preview).toBe(`${k.key.slice(0, 8)}...`);
    expect(k.created_at).toMatch(ISO_Z);
    expect(res.text).toContain('"daily_limit":12.5,');
  });

  it('lists keys (previews only) and shows one key', async () => {
    const list = await call('GET', '/keys', { key });
    expect(list.status).toBe(200);
    expectDocumented('GET /keys', list.json);
    expect(list.text).not.toContain(key.slice(8));
    const first = list.json.keys[0];
    const one = await call('GET', `/keys/${first.id}`, { key });
    expectDocumented('GET /keys/:id', one.json, { nullable: ['$.key.last_used_at'] });
    expect(one.json.key).toMatchObject(first);
    expect(one.json.key.last_used_at).toMatch(ISO_Z);
  });

  it('updates, reveals, regenerates and revokes a key', async () => {
    const created = (await call('POST', '/keys', { key, body: { name: 'Temp', daily_limit: 5 } })).json.key;
    const updated = await call('PUT', `/keys/${created.id}`, { key, body: { name: 'Renamed', daily_limit: null, monthly_limit: 50 } });
    expect(updated.status).toBe(200);
    expectDocumented('PUT /keys/:id', updated.json, { expand: { '$.key': keyShape }, nullable: ['$.key.last_used_at'] });
    expect(updated.json.key).toMatchObject({ id: created.id, name: 'Renamed', daily_limit: null, monthly_limit: 50 });

    const revealed = await call('GET', `/keys/${created.id}/reveal`, { key });
    expectDocumented('GET /keys/:id/reveal', revealed.json);
    expect(revealed.json).toEqual({ key: created.key });

    const regenerated = await call('PUT', `/keys/${created.id}/regenerate`, { key });
    expectDocumented('PUT /keys/:id/regenerate', regenerated.json);
    expect(regenerated.json.key).toMatch(/^lpf_[0-9a-f]{32}$/);
    expect((await call('GET', '/usage', { key: created.key })).status).toBe(401);
    expect((await call('GET', '/usage', { key: regenerated.json.key })).status).toBe(200);

    const revoked = await call('DELETE', `/keys/${created.id}`, { key });
    expect(revoked.status).toBe(200);
    expectDocumented('DELETE /keys/:id', revoked.json);
    expect((await call('GET', '/usage', { key: regenerated.json.key })).status).toBe(401);
    expect((await call('GET', `/keys/${created.id}`, { key })).json.key.active).toBe(0);
    expect(await call('PUT', `/keys/${created.id}`, { key, body: { name: 'x' } })).toMatchObject({ status: 409, json: { code: 'CONFLICT' } });
    expect((await call('DELETE', `/keys/${created.id}`, { key })).status).toBe(200);
  });

  it("answers 404 for another user's key, whatever the method, and changes nothing", async () => {
    const bob = await verifiedUser(server, smtp);
    const bobKey = await createKeyOk(server, bob, { name: 'Bob', dailyLimit: '3' });
    const id = bobKey.apiKey.id;
    for (const [method, path, body] of [
      ['GET', `/keys/${id}`],
      ['PUT', `/keys/${id}`, { name: 'stolen', daily_limit: 1000 }],
      ['GET', `/keys/${id}/reveal`],
      ['PUT', `/keys/${id}/regenerate`],
      ['DELETE', `/keys/${id}`],
      ['GET', '/keys/999999'],
    ] as const) {
      const res = await call(method, path, { key, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json).toEqual({ error: 'API key not found.', code: 'NOT_FOUND' });
    }
    const row = await prisma.apiKey.findUniqueOrThrow({ where: { id: Number(id) } });
    expect(row).toMatchObject({ name: 'Bob', active: true });
    expect(row.dailyLimit?.toFixed(6)).toBe('3.000000');
    expect((await call('GET', '/usage', { key: bobKey.key })).status).toBe(200);
  });

  it('validates key input, naming the REST field', async () => {
    expect(await call('POST', '/keys', { key, body: { daily_limit: 1 } })).toMatchObject({ status: 400, json: { field: 'name' } });
    expect(await call('POST', '/keys', { key, body: { name: 'x', daily_limit: 'ten' } })).toMatchObject({ status: 400, json: { field: 'daily_limit' } });
    expect(await call('POST', '/keys', { key, body: { name: 'x', daily_limit: 1.0000001 } })).toMatchObject({ status: 400, json: { field: 'daily_limit' } });
    const negative = await call('POST', '/keys', { key, body: { name: 'x', weekly_limit: -1 } });
    expect(negative).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'weekly_limit' } });
    expect(negative.json.error).toContain('weekly_limit');
    expect(await call('POST', '/keys', { key, body: { name: '' } })).toMatchObject({ status: 400, json: { field: 'name' } });
    expect(await call('GET', '/keys/abc', { key })).toMatchObject({ status: 400, json: { field: 'id' } });
  });

  it('refuses callers without a key (401) and keys without the scope (403)', async () => {
    const none = await call('GET', '/keys');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.json.code).toBe('UNAUTHENTICATED');
    const bad = await call('GET', '/keys', { key: `lpf_${'0'.repeat(32)}` });
    expect(bad).toMatchObject({ status: 401, json: { code: 'UNAUTHENTICATED', error: 'This API key is invalid, revoked or expired.' } });
    const proxyOnly = await server.ok(CreateKey, { input: { name: 'proxy only', scopes: ['proxy'] } }, { token: owner.token });
    if (proxyOnly.createApiKey.__typename !== 'MutationCreateApiKeySuccess') throw new Error('key not created');
    const forbidden = await call('GET', '/keys', { key: proxyOnly.createApiKey.data.key });
    expect(forbidden).toMatchObject({ status: 403, json: { code: 'FORBIDDEN' } });
  });

  it('caps active keys at 10 (403 LIMIT_REACHED)', async () => {
    const account = await restAccount();
    for (let i = 0; i < 10; i++) expect((await call('POST', '/keys', { key: account.token, body: { name: `k${i}` } })).status).toBe(200);
    expect(await call('POST', '/keys', { key: account.token, body: { name: 'eleventh' } })).toMatchObject({ status: 403, json: { code: 'LIMIT_REACHED' } });
  });
});

describe('Le Proxy Français: usage, balance, pricing, transactions', () => {
  let user: TestUser;
  let key: string;
  let keyId: number;

  beforeAll(async () => {
    user = await verifiedUser(server, smtp);
    const created = await createKeyOk(server, user, { name: 'Prod', dailyLimit: '100' });
    key = created.key;
    keyId = Number(created.apiKey.id);
    const credit = await server.ok(AdjustBalance, { userId: user.id, amount: '150', note: 'welcome' }, { token: admin.accessToken });
    expect(credit.adjustBalance.__typename).toBe('MutationAdjustBalanceSuccess');
    // A confirmed on-chain deposit and today's traffic, written the way their services write them.
    const deposit = await prisma.$transaction((tx) => applyEntry(tx, { userId: Number(user.id), subtype: 'deposit_usdt', amount: new Prisma.Decimal('50') }));
    await prisma.ledgerTransaction.update({ where: { id: deposit.id }, data: { txHash: `0x${'a'.repeat(64)}`, chainId: 1, currency: 'usdt', confirmations: 12 } });
    await prisma.usageBucket.create({
      data: { userId: Number(user.id), apiKeyId: keyId, product: 'shared', hour: hourOf(new Date()), cost: new Prisma.Decimal('5.2'), bytesUp: 1000n, bytesDown: 2000n },
    });
    await prisma.$transaction((tx) => applyEntry(tx, { userId: Number(user.id), subtype: 'consumption_shared', amount: new Prisma.Decimal('-5.2'), apiKeyId: keyId }));
  });

  it('GET /usage: the credit left under every limit, as a number', async () => {
    const res = await call('GET', '/usage', { key });
    expectDocumented('GET /usage', res.json);
    expect(res.json).toEqual({ remaining: 94.8 });
    const asAccount = await call('GET', '/usage', { key: user.accessToken });
    expect(asAccount.json).toEqual({ remaining: 194.8 });
  });

  it('GET /keys/usage: limits, spend and what is left per window, for the account and each key', async () => {
    const res = await call('GET', '/keys/usage', { key });
    expectDocumented('GET /keys/usage', res.json, {
      expand: { '$.keys[].limits': windowsShape.limits, '$.keys[].used': windowsShape.used, '$.keys[].remaining': windowsShape.remaining },
      // No account limit here: the documented 100 is null (no limit).
      nullable: ['$.global.limits.daily', '$.global.remaining.daily'],
    });
    expect(res.json.global).toEqual({ limits: { daily: null, weekly: null, monthly: null }, used: { daily: 5.2, weekly: 5.2, monthly: 5.2 }, remaining: { daily: null, weekly: null, monthly: null } });
    expect(res.json.keys).toEqual([
      { id: keyId, name: 'Prod', limits: { daily: 100, weekly: null, monthly: null }, used: { daily: 5.2, weekly: 5.2, monthly: 5.2 }, remaining: { daily: 94.8, weekly: null, monthly: null } },
    ]);
  });

  it('GET /keys/usage/daily: per date and per hour, with mutualise, dedie, navigateur, total, deposits', async () => {
    const res = await call('GET', '/keys/usage/daily?days=3', { key });
    expectDocumented('GET /keys/usage/daily', res.json, { maps: ['$.daily'] });
    const today = new Date().toISOString().slice(0, 10);
    expect(Object.keys(res.json.daily)).toHaveLength(3);
    expect(res.json.daily[today]).toEqual({ mutualise: 5.2, dedie: 0, navigateur: 0, total: 5.2, deposits: 50 });
    expect(res.json.hourly).toHaveLength(24);
    expect(res.json.hourly[new Date().getUTCHours()]).toMatchObject({ mutualise: 5.2, total: 5.2 });
    expect(Object.keys((await call('GET', '/keys/usage/daily', { key })).json.daily)).toHaveLength(7);
    for (const days of ['0', '91', 'abc']) {
      expect(await call('GET', `/keys/usage/daily?days=${days}`, { key })).toMatchObject({ status: 400, json: { code: 'BAD_USER_INPUT', field: 'days' } });
    }
  });

  it('GET /keys/balance: balance and sums per type and subtype label', async () => {
    const res = await call('GET', '/keys/balance', { key });
    const summary = (leproxyDoc.examples['GET /keys/balance'] as { summary: { deposit: unknown } }).summary;
    expectDocumented('GET /keys/balance', res.json, {
      maps: ['$.summary.deposit.by_subtype', '$.summary.consumption.by_subtype', '$.summary.adjustment.by_subtype'],
      expand: { '$.summary': { ...summary, adjustment: summary.deposit } },
    });
    expect(res.json).toEqual({
      balance: 194.8,
      summary: {
        deposit: { total: 50, count: 1, by_subtype: { USDT: { total: 50, count: 1 } } },
        consumption: { total: -5.2, count: 1, by_subtype: { Mutualisé: { total: -5.2, count: 1 } } },
        adjustment: { total: 150, count: 1, by_subtype: { 'Crédit manuel': { total: 150, count: 1 } } },
      },
    });
  });

  it('GET /keys/pricing: rate, grid and tiers', async () => {
    const res = await call('GET', '/keys/pricing', { key });
    expectDocumented('GET /keys/pricing', res.json);
    expect(res.json).toEqual({
      rate: 0.9,
      grid: 'Standard',
      tiers: [
        { min_credits: 0, rate: 1 },
        { min_credits: 100, rate: 0.9 },
        { min_credits: 500, rate: 0.8 },
        { min_credits: 2000, rate: 0.7 },
      ],
    });
  });

  it('GET /keys/transactions: a page of transactions with subtype_label, filters and totals', async () => {
    const res = await call('GET', '/keys/transactions', { key });
    expectDocumented('GET /keys/transactions', res.json, {
      nullable: ['$.transactions[].tx_hash', '$.transactions[].currency', '$.transactions[].chain_id'],
    });
    expect(res.json).toMatchObject({ total: 3, page: 1, limit: 20 });
    expect(res.json.transactions.map((t: { type: string }) => t.type)).toEqual(['consumption', 'deposit', 'adjustment']);
    expect(res.json.transactions[0]).toMatchObject({ type: 'consumption', subtype: 10, subtype_label: 'Mutualisé', amount: -5.2, api_key_id: keyId, api_key_name: 'Prod', status: 'confirmed' });
    expect(res.json.transactions[1]).toMatchObject({ tx_hash: `0x${'a'.repeat(64)}`, currency: 'usdt', chain_id: 1, confirmations: 12, amount: 50 });
    expect(res.json.transactions[0].created_at).toMatch(ISO_Z);

    const page = await call('GET', `/keys/transactions?page=2&limit=1&type=deposit`, { key });
    expect(page.json).toMatchObject({ total: 1, page: 2, limit: 1, transactions: [] });
    const byKey = await call('GET', `/keys/transactions?api_key_id=${keyId}&subtype=10`, { key });
    expect(byKey.json).toMatchObject({ total: 1, transactions: [{ api_key_id: keyId }] });
    expect(await call('GET', '/keys/transactions?limit=101', { key })).toMatchObject({ status: 400, json: { field: 'limit' } });
    expect(await call('GET', '/keys/transactions?page=0', { key })).toMatchObject({ status: 400, json: { field: 'page' } });
    expect(await call('GET', '/keys/transactions?type=gift', { key })).toMatchObject({ status: 400, json: { field: 'type' } });
    expect(await call('GET', '/keys/transactions?api_key_id=x', { key })).toMatchObject({ status: 400, json: { field: 'api_key_id' } });
  });

  it('POST /keys/deposit checks the submission, then answers 501 until deposits land', async () => {
    const ok = await call('POST', '/keys/deposit', { key, body: { tx_hash: `0x${'b'.repeat(64)}`, currency: 'usdt', chain_id: 137 } });
    expect(ok).toMatchObject({ status: 501, json: { code: 'NOT_AVAILABLE_YET', error: 'Crypto deposits is not available yet.' } });
    expect(await call('POST', '/keys/deposit', { key, body: { tx_hash: '0x12' } })).toMatchObject({ status: 400, json: { field: 'tx_hash' } });
    expect(await call('POST', '/keys/deposit', { key, body: { tx_hash: `0x${'b'.repeat(64)}`, chain_id: 2 } })).toMatchObject({ status: 400, json: { field: 'chain_id' } });
    expect(await prisma.ledgerTransaction.count({ where: { userId: Number(user.id), type: 'deposit' } })).toBe(1);
  });
});

describe('Le Proxy Français: settings and webhooks', () => {
  let user: TestUser;
  let key: string;

  beforeAll(async () => {
    user = await verifiedUser(server, smtp);
    key = (await createKeyOk(server, user)).key;
  });

  it('GET /keys/settings: the twelve documented settings', async () => {
    const res = await call('GET', '/keys/settings', { key });
    expectDocumented('GET /keys/settings', res.json, { expand: { '$.settings.webhook_events': settingsShape.webhook_events }, nullable: ['$.settings.webhook_secret'] });
    expect(res.json.settings).toEqual({
      daily_limit: null,
      weekly_limit: null,
      monthly_limit: null,
      webhook_url: null,
      webhook_events: { balanceLow: false, deposit: false, dailyUsage: false },
      alert_low_balance: true,
      alert_threshold: 50,
      webhook_secret: null,
      auto_reload_enabled: false,
      auto_reload_threshold: 10,
      auto_reload_amount: 50,
      save_card_consent: false,
    });
  });

  it('PUT /keys/settings sets the account limits and answers the settings', async () => {
    const res = await call('PUT', '/keys/settings', { key, body: { daily_limit: 20, weekly_limit: 70.25 } });
    expect(res.status).toBe(200);
    expectDocumented('PUT /keys/settings', res.json, { expand: { '$.settings': settingsShape }, nullable: ['$.settings.webhook_secret'] });
    expect(res.json.settings).toMatchObject({ daily_limit: 20, weekly_limit: 70.25, monthly_limit: null });
    const cleared = await call('PUT', '/keys/settings', { key, body: { daily_limit: null } });
    expect(cleared.json.settings).toMatchObject({ daily_limit: null, weekly_limit: 70.25 });
    expect(await call('PUT', '/keys/settings', { key, body: { monthly_limit: -3 } })).toMatchObject({ status: 400, json: { field: 'monthly_limit' } });
  });

  it('PUT /keys/settings/alerts stores alerts and automatic reload', async () => {
    const res = await call('PUT', '/keys/settings/alerts', {
      key,
      body: { alert_low_balance: false, alert_threshold: 12.5, auto_reload_enabled: true, auto_reload_threshold: 5, auto_reload_amount: 25, save_card_consent: true },
    });
    expect(res.status).toBe(200);
    expectDocumented('PUT /keys/settings/alerts', res.json);
    const settings = (await call('GET', '/keys/settings', { key })).json.settings;
    expect(settings).toMatchObject({ alert_low_balance: false, alert_threshold: 12.5, auto_reload_enabled: true, auto_reload_threshold: 5, auto_reload_amount: 25, save_card_consent: true });
    expect(await call('PUT', '/keys/settings/alerts', { key, body: { auto_reload_amount: 0 } })).toMatchObject({ status: 400, json: { field: 'auto_reload_amount' } });
    expect(await call('PUT', '/keys/settings/alerts', { key, body: { alert_low_balance: 'yes' } })).toMatchObject({ status: 400, json: { field: 'alert_low_balance' } });
  });

  it('PUT /keys/settings/webhooks stores the URL and events and creates the secret; rotate-secret replaces it; test is 501', async () => {
    const res = await call('PUT', '/keys/settings/webhooks', { key, body: { webhook_url: 'https://hooks.example.com/relais', webhook_events: { balanceLow: true, deposit: true } } });
    expect(res.status).toBe(200);
    expectDocumented('PUT /keys/settings/webhooks', res.json);
    expect(res.json.webhook_secret).toMatch(/^[0-9a-f]{64}$/);
    const settings = (await call('GET', '/keys/settings', { key })).json.settings;
    expect(settings).toMatchObject({
      webhook_url: 'https://hooks.example.com/relais',
      webhook_events: { balanceLow: true, deposit: true, dailyUsage: false },
      webhook_secret: res.json.webhook_secret,
    });
    // Stored encrypted, like API keys.
    const row = await prisma.userSettings.findUniqueOrThrow({ where: { userId: Number(user.id) } });
    expect(row.webhookSecret).not.toContain(res.json.webhook_secret);

    const again = await call('PUT', '/keys/settings/webhooks', { key, body: { webhook_url: 'https://hooks.example.com/v2', webhook_events: {} } });
    expect(again.json.webhook_secret).toBe(res.json.webhook_secret);

    const rotated = await call('POST', '/keys/settings/webhooks/rotate-secret', { key });
    expectDocumented('POST /keys/settings/webhooks/rotate-secret', rotated.json);
    expect(rotated.json.webhook_secret).not.toBe(res.json.webhook_secret);
    expect((await call('GET', '/keys/settings', { key })).json.settings.webhook_secret).toBe(rotated.json.webhook_secret);

    const test = await call('POST', '/keys/settings/webhooks/test', { key });
    expect(test).toMatchObject({ status: 501, json: { code: 'NOT_AVAILABLE_YET', error: 'Webhook delivery is not available yet.' } });

    expect(await call('PUT', '/keys/settings/webhooks', { key, body: { webhook_url: 'ftp://x', webhook_events: {} } })).toMatchObject({ status: 400, json: { field: 'webhook_url' } });
    expect(await call('PUT', '/keys/settings/webhooks', { key, body: { webhook_url: 'https://x.example' } })).toMatchObject({ status: 400, json: { field: 'webhook_events' } });
  });

  it('keeps settings per account', async () => {
    const other = await verifiedUser(server, smtp);
    const res = await call('GET', '/keys/settings', { key: other.accessToken });
    expect(res.json.settings).toMatchObject({ webhook_url: null, webhook_secret: null, daily_limit: null, alert_low_balance: true });
    expect((await server.ok(Me, {}, { token: other.accessToken })).me.user.email).toBe(other.email);
  });
});
