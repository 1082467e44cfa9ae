import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { GraphqlClient, TestServer } from './server.js';
import { tokenFrom, type TestSmtp } from './smtp.js';
import { CreateKey, Login, Register, VerifyEmail } from './operations.js';

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

let counter = 0;
export const uniqueName = (base = 'user') => `${base}${++counter}${randomBytes(3).toString('hex')}`;

/** register → verification mail → verify → log in. */
export async function verifiedUser(server: GraphqlClient, smtp: TestSmtp, password = 'correct horse 42'): Promise<TestUser> {
  const username = uniqueName();
  const email = `${username}@example.test`;
  const reg = await server.ok(Register, { input: { username, email, password } });
  expect(reg.register.__typename).toBe('MutationRegisterSuccess');
  const mail = await smtp.waitFor(email, /confirm/i);
  const verified = await server.ok(VerifyEmail, { token: tokenFrom(mail) });
  expect(verified.verifyEmail.__typename).toBe('MutationVerifyEmailSuccess');
  const { accessToken, refreshToken, user } = await loginOk(server, email, password);
  return { id: user.id, username, email, password, accessToken, refreshToken };
}

export async function loginOk(server: GraphqlClient, email: string, password: string) {
  const res = await server.ok(Login, { email, password });
  if (res.login.__typename !== 'MutationLoginSuccess') throw new Error(`login failed: ${JSON.stringify(res.login)}`);
  return res.login.data;
}

export async function createKeyOk(server: GraphqlClient, user: TestUser, input: { name?: string; dailyLimit?: string | null } = {}) {
  const res = await server.ok(CreateKey, { input: { name: input.name ?? 'Prod', dailyLimit: input.dailyLimit } }, { token: user.accessToken });
  if (res.createApiKey.__typename !== 'MutationCreateApiKeySuccess') throw new Error(`createApiKey failed: ${JSON.stringify(res.createApiKey)}`);
  return res.createApiKey.data;
}

/** A user made administrator directly through the admin service (as `relais admin create` does). */
export async function adminUser(server: TestServer, smtp: TestSmtp): Promise<TestUser> {
  const user = await verifiedUser(server, smtp);
  const { createAdmin } = await import('../../src/modules/admin/admin.service.js');
  await createAdmin({ email: user.email, password: user.password });
  return { ...user, ...(await loginOk(server, user.email, user.password)) };
}
