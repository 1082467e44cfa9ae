import { SignJWT, decodeJwt } from 'jose';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '../../src/db.js';
import { runtime } from '../../src/runtime.js';
import { sha256 } from '../../src/lib/secrets.js';
import { refreshKey } from '../../src/modules/keys/key-cache.js';
import { recheckSessions, watchCredential, watchedCredentials } from '../../src/modules/live/credential-watch.js';
import { liveSubscriptionCount } from '../../src/modules/live/live.service.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, tokenFrom, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, loginOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, ChangePassword, ForgotPassword, Logout, Refresh, RegenerateKey, ResetPassword, RevokeKey } from '../helpers/operations.js';
import { BalanceChanged, listening, sse, sseGet, subscribe, until, within, wsClient, type LiveClient } from './helpers.js';

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

async function credit(user: TestUser, amount: string) {
  await server.ok(AdjustBalance, { userId: user.id, amount, note: 'live test' }, { token: admin.accessToken });
}

/** A socket with a live balanceChanged subscription, listening before this returns. */
async function watchingBalance(params: Record<string, unknown>) {
  const before = liveSubscriptionCount();
  const live = wsClient(server, params);
  const sub = subscribe(live, BalanceChanged, {});
  await listening(before);
  return { live, sub };
}

/** Proves a socket still works: a credit reaches its subscription. */
async function stillOpen(user: TestUser, sub: { next(ms?: number): Promise<{ errors?: readonly unknown[] }> }, amount: string) {
  await credit(user, amount);
  const result = await sub.next();
  expect(result.errors).toBeUndefined();
}

async function expectForbiddenClose(live: LiveClient, since: number, withinMs = 1000) {
  const closed = await within(live.closed, 3000, 'the socket to close');
  expect(closed).toMatchObject({ code: 4403, reason: 'Forbidden' });
  expect(closed.at - since).toBeLessThan(withinMs);
}

describe('connection_init', () => {
  it('closes the socket with 4403 for a refused API key or access token', async () => {
    const badKey = wsClient(server, { apiKey: `lpf_${'0'.repeat(32)}` });
    expect((await badKey.closed).code).toBe(4403);
    const badToken = wsClient(server, { authorization: 'Bearer aaa.bbb.ccc' });
    expect((await badToken.closed).code).toBe(4403);
    const alice = await verifiedUser(server, smtp);
    const { key, apiKey } = await createKeyOk(server, alice);
    await server.ok(RevokeKey, { id: apiKey.id }, { token: alice.accessToken });
    const revoked = wsClient(server, { apiKey: key });
    expect((await revoked.closed).code).toBe(4403);
  });
});

describe('a credential that stops being valid ends the socket and its subscriptions', () => {
  it('revoking the API key closes its socket with 4403 within a second; the same user’s other key keeps working', async () => {
    const alice = await verifiedUser(server, smtp);
    const doomed = await createKeyOk(server, alice, { name: 'doomed' });
    const kept = await createKeyOk(server, alice, { name: 'kept' });
    const a = await watchingBalance({ apiKey: doomed.key });
    const b = await watchingBalance({ apiKey: kept.key });
    const since = Date.now();
    await server.ok(RevokeKey, { id: doomed.apiKey.id }, { token: alice.accessToken });
    await expectForbiddenClose(a.live, since);
    const ended = await within(a.sub.ended, 3000, 'the subscription to end');
    expect(ended.at - since).toBeLessThan(1000);
    await stillOpen(alice, b.sub, '1');
  });

  it('regenerating the API key closes the socket opened with its old value', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key, apiKey } = await createKeyOk(server, alice);
    const a = await watchingBalance({ apiKey: key });
    const since = Date.now();
    await server.ok(RegenerateKey, { id: apiKey.id }, { token: alice.accessToken });
    await expectForbiddenClose(a.live, since);
  });

  it('a key reaching its expiry closes its socket then', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key, apiKey } = await createKeyOk(server, alice);
    const expiresAt = new Date(Date.now() + 1500);
    await prisma.apiKey.update({ where: { id: Number(apiKey.id) }, data: { expiresAt } });
    await refreshKey(sha256(key));
    const a = await watchingBalance({ apiKey: key });
    const closed = await within(a.live.closed, 4000, 'the socket to close');
    expect(closed.code).toBe(4403);
    expect(closed.at).toBeGreaterThanOrEqual(expiresAt.getTime() - 5);
    expect(closed.at - expiresAt.getTime()).toBeLessThan(1000);
  });

  it("an access token closes its socket when it expires (exp)", async () => {
    const alice = await verifiedUser(server, smtp);
    const sid = decodeJwt(alice.accessToken).sid as string;
    const exp = Math.floor(Date.now() / 1000) + 2;
    const shortLived = await new SignJWT({ sid, typ: 'access' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(alice.id)
      .setIssuedAt()
      .setIssuer('relais')
      .setExpirationTime(exp)
      .sign(runtime().secrets.jwtKey);
    const a = await watchingBalance({ authorization: `Bearer ${shortLived}` });
    const closed = await within(a.live.closed, 4000, 'the socket to close');
    expect(closed.code).toBe(4403);
    expect(closed.at).toBeGreaterThanOrEqual(exp * 1000 - 5);
    expect(closed.at - exp * 1000).toBeLessThan(1000);
  });

  it("logout closes that session's sockets within a second, not the user's other sessions", async () => {
    const alice = await verifiedUser(server, smtp);
    const other = await loginOk(server, alice.email, alice.password);
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    const b = await watchingBalance({ authorization: `Bearer ${other.accessToken}` });
    const since = Date.now();
    await server.ok(Logout, {}, { token: alice.accessToken });
    await expectForbiddenClose(a.live, since);
    await stillOpen(alice, b.sub, '1');
  });

  it("a password change closes the user's other sessions' sockets and keeps the changing one", async () => {
    const alice = await verifiedUser(server, smtp);
    const other = await loginOk(server, alice.email, alice.password);
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    const b = await watchingBalance({ authorization: `Bearer ${other.accessToken}` });
    const since = Date.now();
    const res = await server.ok(ChangePassword, { currentPassword: alice.password, newPassword: 'a brand new one' }, { token: alice.accessToken });
    expect(res.changePassword.__typename).toBe('MutationChangePasswordSuccess');
    await expectForbiddenClose(b.live, since);
    await stillOpen(alice, a.sub, '1');
  });

  it("a password reset closes every session's sockets", async () => {
    const alice = await verifiedUser(server, smtp);
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    await server.ok(ForgotPassword, { email: alice.email });
    const token = tokenFrom(await smtp.waitFor(alice.email, /reset/i));
    const since = Date.now();
    const res = await server.ok(ResetPassword, { token, password: 'after the reset' });
    expect(res.resetPassword.__typename).toBe('MutationResetPasswordSuccess');
    await expectForbiddenClose(a.live, since);
  });

  it("reusing a rotated refresh token closes the sockets of that session's access tokens", async () => {
    const alice = await verifiedUser(server, smtp);
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    const rotated = await server.ok(Refresh, { refreshToken: alice.refreshToken });
    expect(rotated.refreshToken.__typename).toBe('MutationRefreshTokenSuccess');
    const since = Date.now();
    const reuse = await server.ok(Refresh, { refreshToken: alice.refreshToken });
    expect(reuse.refreshToken).toMatchObject({ code: 'INVALID_TOKEN' });
    await expectForbiddenClose(a.live, since);
  });

  it('after missed events (a Redis reconnect), a session revoked meanwhile closes its sockets on the recheck', async () => {
    const alice = await verifiedUser(server, smtp);
    const other = await loginOk(server, alice.email, alice.password);
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    const b = await watchingBalance({ authorization: `Bearer ${other.accessToken}` });
    // Revoked behind the bus's back, as if the event had been lost.
    await prisma.session.update({ where: { id: decodeJwt(alice.accessToken).sid as string }, data: { revokedAt: new Date(), revokeReason: 'logout' } });
    const since = Date.now();
    expect(await recheckSessions()).toBe(1);
    await expectForbiddenClose(a.live, since);
    await stillOpen(alice, b.sub, '1');
  });

  it('a credential revoked between its check and the start of its watch ends the watch at once', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key, apiKey } = await createKeyOk(server, alice);
    await server.ok(RevokeKey, { id: apiKey.id }, { token: alice.accessToken });
    // The viewer an in-flight request authenticated just before the revocation.
    const keyWatch = watchCredential({ userId: Number(alice.id), role: 'user', via: 'apiKey', apiKeyId: Number(apiKey.id), apiKeyHash: sha256(key), scopes: [] });
    expect(keyWatch.signal.aborted).toBe(true);
    const other = await loginOk(server, alice.email, alice.password);
    const sessionId = decodeJwt(other.accessToken).sid as string;
    await server.ok(Logout, {}, { token: other.accessToken });
    const sessionWatch = watchCredential({ userId: Number(alice.id), role: 'user', via: 'session', sessionId, scopes: [] });
    await until(() => sessionWatch.signal.aborted, 2000, 'the session watch to end');
  });

  it('forgets the credential of a closed connection (no watch left behind)', async () => {
    const alice = await verifiedUser(server, smtp);
    const before = watchedCredentials();
    const a = await watchingBalance({ authorization: `Bearer ${alice.accessToken}` });
    expect(watchedCredentials()).toBe(before + 1);
    await a.live.client.dispose();
    await until(() => watchedCredentials() === before, 2000, 'the watch to be dropped');
  });
});

describe('SSE', () => {
  it('delivers balanceChanged with x-api-key and with a bearer access token', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key } = await createKeyOk(server, alice);
    const before = liveSubscriptionCount();
    const byKey = await sse(server, BalanceChanged, {}, { 'x-api-key': key });
    const byToken = await sse(server, BalanceChanged, {}, { authorization: `Bearer ${alice.accessToken}` });
    expect(byKey.status).toBe(200);
    expect(byKey.contentType).toMatch(/^text\/event-stream/);
    await listening(before, 2);
    await credit(alice, '7');
    for (const stream of [byKey, byToken]) {
      const { data, errors } = (await stream.next()) as { data?: { balanceChanged: { userId: string; balance: string } }; errors?: unknown };
      expect(errors).toBeUndefined();
      expect(data!.balanceChanged).toMatchObject({ userId: alice.id, balance: '7.000000' });
    }
  });

  it('works as an EventSource would use it: GET with the query and ?apikey= in the URL', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key } = await createKeyOk(server, alice);
    const before = liveSubscriptionCount();
    const url = new URL('/graphql', server.url);
    url.searchParams.set('query', print(BalanceChanged));
    url.searchParams.set('apikey', key);
    const stream = await sseGet(url);
    expect(stream.status).toBe(200);
    await listening(before);
    await credit(alice, '2');
    expect(await stream.next()).toMatchObject({ data: { balanceChanged: { userId: alice.id, balance: '2.000000' } } });
  });

  it('ends the stream within a second when its key is revoked', async () => {
    const alice = await verifiedUser(server, smtp);
    const { key, apiKey } = await createKeyOk(server, alice);
    const before = liveSubscriptionCount();
    const watchesBefore = watchedCredentials();
    const stream = await sse(server, BalanceChanged, {}, { 'x-api-key': key });
    await listening(before);
    expect(watchedCredentials()).toBe(watchesBefore + 1);
    const since = Date.now();
    await server.ok(RevokeKey, { id: apiKey.id }, { token: alice.accessToken });
    const ended = await within(stream.ended, 3000, 'the stream to end');
    expect(ended.at - since).toBeLessThan(1000);
    expect(ended.events.at(-1)?.event).toBe('complete');
    expect(ended.events.some((e) => e.event === 'next')).toBe(false);
    expect(watchedCredentials()).toBe(watchesBefore);
    expect(liveSubscriptionCount()).toBe(before);
  });

  it("ends the stream when its session logs out", async () => {
    const alice = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const stream = await sse(server, BalanceChanged, {}, { authorization: `Bearer ${alice.accessToken}` });
    await listening(before);
    const since = Date.now();
    await server.ok(Logout, {}, { token: alice.accessToken });
    const ended = await within(stream.ended, 3000, 'the stream to end');
    expect(ended.at - since).toBeLessThan(1000);
    expect(ended.events.at(-1)?.event).toBe('complete');
  });

  it('answers an anonymous or badly authenticated subscriber with UNAUTHENTICATED and ends', async () => {
    const anonymous = await sse(server, BalanceChanged, {});
    expect((await anonymous.next()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await anonymous.ended;
    const badKey = await sse(server, BalanceChanged, {}, { 'x-api-key': `lpf_${'1'.repeat(32)}` });
    const refused = await badKey.next();
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' }, message: expect.stringMatching(/invalid, revoked or expired/) });
    await badKey.ended;
  });
});
