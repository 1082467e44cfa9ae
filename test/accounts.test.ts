import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, tokenFrom, type TestSmtp } from './helpers/smtp.js';
import { loginOk, uniqueName, verifiedUser } from './helpers/fixtures.js';
import {
  ChangePassword, ForgotPassword, Login, Logout, Me, Refresh, Register, ResendVerification, ResetPassword,
  RevokeRefreshToken, VerifyEmail,
} from './helpers/operations.js';
import { prisma } from '../src/db.js';

let server: TestServer;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url });
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

const postRaw = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${server.url}/graphql`, { method: 'POST', headers, body });

describe('register → verify → login → me', () => {
  it('walks the whole story and sends real mail', async () => {
    const username = uniqueName('story');
    const email = `${username}@example.test`;
    const reg = await server.ok(Register, { input: { username, email: email.toUpperCase(), password: 'a good password' } });
    expect(reg.register).toMatchObject({ __typename: 'MutationRegisterSuccess', data: { username, email, emailVerified: false } });

    const early = await server.ok(Login, { email, password: 'a good password' });
    expect(early.login).toMatchObject({ __typename: 'AuthError', code: 'EMAIL_NOT_VERIFIED' });

    const mail = await smtp.waitFor(email, /confirm your email/i);
    expect(mail.text).toContain('/auth/verify-email?token=');
    const token = tokenFrom(mail);
    expect((await server.ok(VerifyEmail, { token })).verifyEmail.__typename).toBe('MutationVerifyEmailSuccess');
    const again = await server.ok(VerifyEmail, { token });
    expect(again.verifyEmail).toMatchObject({ __typename: 'AuthError', code: 'INVALID_TOKEN' });

    const session = await loginOk(server, email, 'a good password');
    expect(new Date(session.accessTokenExpiresAt).getTime()).toBeGreaterThan(Date.now());
    const me = await server.ok(Me, {}, { token: session.accessToken });
    expect(me.me).toMatchObject({ balance: '0.000000', role: 'user', authenticatedWith: 'session', user: { email, emailVerified: true } });
    expect(me.me.permissions).toContain('keys.manage');
    expect(me.me.permissions).not.toContain('admin.users');
  });

  it('sends French mail when the request says fp-locale: fr', async () => {
    const username = uniqueName('fr');
    const email = `${username}@example.test`;
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'fp-locale': 'fr' },
      body: JSON.stringify({ query: 'mutation($i: RegisterInput!) { register(input: $i) { __typename } }', variables: { i: { username, email, password: 'mot de passe sûr' } } }),
    });
    expect((await res.json()).data.register.__typename).toBe('MutationRegisterSuccess');
    const mail = await smtp.waitFor(email, /Confirmez/);
    expect(mail.text).toContain('Bienvenue');
  });

  it('resends a verification link, and the new link supersedes the old one', async () => {
    const username = uniqueName('resend');
    const email = `${username}@example.test`;
    await server.ok(Register, { input: { username, email, password: 'a good password' } });
    const first = tokenFrom(await smtp.waitFor(email, /confirm/i));
    expect((await server.ok(ResendVerification, { email })).resendVerification.__typename).toBe('MutationResendVerificationSuccess');
    const second = tokenFrom(await smtp.waitFor(email, /confirm/i));
    expect(second).not.toBe(first);
    expect((await server.ok(VerifyEmail, { token: first })).verifyEmail).toMatchObject({ code: 'INVALID_TOKEN' });
    expect((await server.ok(VerifyEmail, { token: second })).verifyEmail.__typename).toBe('MutationVerifyEmailSuccess');
  });

  it('answers resend for unknown addresses exactly like for known ones, without sending mail', async () => {
    const res = await server.ok(ResendVerification, { email: 'nobody-here@example.test' });
    expect(res.resendVerification.__typename).toBe('MutationResendVerificationSuccess');
    await expect(smtp.waitFor('nobody-here@example.test', /./, 1500)).rejects.toThrow(/no mail/);
  });
});

describe('registration input', () => {
  it.each([
    [{ username: 'ab', email: 'x1@example.test', password: 'long enough' }, 'username'],
    [{ username: 'has space', email: 'x2@example.test', password: 'long enough' }, 'username'],
    [{ username: uniqueName(), email: 'not-an-email', password: 'long enough' }, 'email'],
    [{ username: uniqueName(), email: 'x3@example.test', password: 'short' }, 'password'],
    [{ username: uniqueName(), email: 'x4@example.test', password: 'é'.repeat(40) }, 'password'],
  ])('refuses %j naming the field', async (input, field) => {
    const res = await server.ok(Register, { input });
    expect(res.register).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT', field });
  });

  it('refuses a taken email or username and creates nothing', async () => {
    const user = await verifiedUser(server, smtp);
    const before = await prisma.user.count();
    const byEmail = await server.ok(Register, { input: { username: uniqueName(), email: user.email, password: 'long enough' } });
    expect(byEmail.register).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    const byName = await server.ok(Register, { input: { username: user.username, email: `${uniqueName()}@example.test`, password: 'long enough' } });
    expect(byName.register).toMatchObject({ __typename: 'ConflictError', message: expect.stringMatching(/username/) });
    expect(await prisma.user.count()).toBe(before);
  });

  it('refuses missing and wrong-typed fields with GraphQL validation errors', async () => {
    const missing = await (await postRaw(JSON.stringify({ query: 'mutation { register(input: { username: "abc", email: "a@b.c" }) { __typename } }' }))).json();
    expect(missing.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const wrongType = await (await postRaw(JSON.stringify({ query: 'mutation($e: String!) { forgotPassword(email: $e) { __typename } }', variables: { e: 42 } }))).json();
    expect(wrongType.errors[0].message).toMatch(/String cannot represent/);
  });

  it('answers malformed JSON and oversized bodies with clear errors', async () => {
    const bad = await postRaw('{"query": ');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/JSON/i);
    const huge = await postRaw(JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(huge.status).toBe(413);
    expect((await huge.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('login', () => {
  it('gives the same answer for a wrong password and an unknown email', async () => {
    const user = await verifiedUser(server, smtp);
    const wrong = await server.ok(Login, { email: user.email, password: 'not the password' });
    const unknown = await server.ok(Login, { email: 'ghost@example.test', password: 'not the password' });
    expect(wrong.login).toEqual({ __typename: 'AuthError', code: 'INVALID_CREDENTIALS', message: 'Wrong email or password.' });
    expect(unknown.login).toEqual(wrong.login);
  });
});

describe('tokens', () => {
  it('rotates refresh tokens; reusing a rotated one revokes the whole family', async () => {
    const user = await verifiedUser(server, smtp);
    const first = await server.ok(Refresh, { refreshToken: user.refreshToken });
    if (first.refreshToken.__typename !== 'MutationRefreshTokenSuccess') throw new Error('refresh failed');
    const second = await server.ok(Refresh, { refreshToken: first.refreshToken.data.refreshToken });
    if (second.refreshToken.__typename !== 'MutationRefreshTokenSuccess') throw new Error('refresh failed');

    const replay = await server.ok(Refresh, { refreshToken: user.refreshToken });
    expect(replay.refreshToken).toMatchObject({ __typename: 'AuthError', code: 'INVALID_TOKEN' });
    // The thief's replay ended the family: the newest token and its access token stop too.
    const latest = await server.ok(Refresh, { refreshToken: second.refreshToken.data.refreshToken });
    expect(latest.refreshToken).toMatchObject({ code: 'INVALID_TOKEN' });
    const me = await server.gql(Me, {}, { token: second.refreshToken.data.accessToken });
    expect(me.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('logs out by revoking a refresh token, and by the logout mutation', async () => {
    const user = await verifiedUser(server, smtp);
    expect((await server.ok(RevokeRefreshToken, { refreshToken: user.refreshToken })).revokeRefreshToken).toBe(true);
    expect((await server.gql(Me, {}, { token: user.accessToken })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const other = await loginOk(server, user.email, user.password);
    expect((await server.ok(Logout, {}, { token: other.accessToken })).logout).toBe(true);
    expect((await server.gql(Me, {}, { token: other.accessToken })).errors?.[0]?.message).toMatch(/session has ended/);
  });

  it('refuses tampered, foreign-signed, expired and garbage tokens', async () => {
    const user = await verifiedUser(server, smtp);
    const [h, p, s] = user.accessToken.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: '1' })).toString('base64url');
    const foreign = await new SignJWT({ sid: payload.sid, typ: 'access' })
      .setProtectedHeader({ alg: 'HS256' }).setSubject(payload.sub).setIssuer('relais').setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    const { runtime } = await import('../src/runtime.js');
    const expired = await new SignJWT({ sid: payload.sid, typ: 'access' })
      .setProtectedHeader({ alg: 'HS256' }).setSubject(payload.sub).setIssuer('relais')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(runtime().secrets.jwtKey);
    for (const token of [`${h}.${forged}.${s}`, foreign, expired, 'garbage', `${h}.${p}.`]) {
      const res = await server.gql(Me, {}, { token });
      expect(res.errors?.[0]?.extensions?.code, token).toBe('UNAUTHENTICATED');
      expect(res.data).toBeNull();
    }
  });

  it('refuses an unknown refresh token', async () => {
    const res = await server.ok(Refresh, { refreshToken: 'not-a-token' });
    expect(res.refreshToken).toMatchObject({ code: 'INVALID_TOKEN' });
  });
});

describe('passwords', () => {
  it('changing the password ends other sessions but keeps the current one', async () => {
    const user = await verifiedUser(server, smtp);
    const other = await loginOk(server, user.email, user.password);
    const wrong = await server.ok(ChangePassword, { currentPassword: 'nope nope', newPassword: 'brand new pass' }, { token: user.accessToken });
    expect(wrong.changePassword).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const weak = await server.ok(ChangePassword, { currentPassword: user.password, newPassword: 'short' }, { token: user.accessToken });
    expect(weak.changePassword).toMatchObject({ __typename: 'ValidationError', field: 'newPassword' });

    const res = await server.ok(ChangePassword, { currentPassword: user.password, newPassword: 'brand new pass' }, { token: user.accessToken });
    expect(res.changePassword.__typename).toBe('MutationChangePasswordSuccess');
    expect((await server.gql(Me, {}, { token: user.accessToken })).data?.me.user.email).toBe(user.email);
    expect((await server.gql(Me, {}, { token: other.accessToken })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await server.ok(Refresh, { refreshToken: other.refreshToken })).refreshToken).toMatchObject({ code: 'INVALID_TOKEN' });
    expect((await server.ok(Login, { email: user.email, password: user.password })).login).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    await loginOk(server, user.email, 'brand new pass');
  });

  it('forgot → reset works once, ends every session, and never reveals whether the email exists', async () => {
    const user = await verifiedUser(server, smtp);
    const known = await server.ok(ForgotPassword, { email: user.email });
    const unknown = await server.ok(ForgotPassword, { email: 'ghost2@example.test' });
    expect(unknown).toEqual(known);
    const token = tokenFrom(await smtp.waitFor(user.email, /reset/i));

    const weak = await server.ok(ResetPassword, { token, password: 'short' });
    expect(weak.resetPassword).toMatchObject({ __typename: 'ValidationError', field: 'password' });
    const ok = await server.ok(ResetPassword, { token, password: 'after the reset' });
    expect(ok.resetPassword.__typename).toBe('MutationResetPasswordSuccess');
    const reuse = await server.ok(ResetPassword, { token, password: 'another attempt' });
    expect(reuse.resetPassword).toMatchObject({ code: 'INVALID_TOKEN' });
    expect((await server.gql(Me, {}, { token: user.accessToken })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await loginOk(server, user.email, 'after the reset');
  });

  it('refuses an expired reset link', async () => {
    const user = await verifiedUser(server, smtp);
    await server.ok(ForgotPassword, { email: user.email });
    const token = tokenFrom(await smtp.waitFor(user.email, /reset/i));
    await prisma.emailToken.updateMany({ where: { user: { email: user.email }, purpose: 'reset_password' }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const res = await server.ok(ResetPassword, { token, password: 'after the reset' });
    expect(res.resetPassword).toMatchObject({ code: 'INVALID_TOKEN', message: expect.stringMatching(/expired/) });
    await loginOk(server, user.email, user.password);
  });
});
