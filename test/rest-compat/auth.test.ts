import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, tokenFrom, type TestSmtp } from '../helpers/smtp.js';
import { uniqueName } from '../helpers/fixtures.js';
import { Login, Register } from '../helpers/operations.js';

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

describe('GET /auth/verify-email', () => {
  it('verifies the address from the mailed link, once', async () => {
    const username = uniqueName();
    const email = `${username}@example.test`;
    await server.ok(Register, { input: { username, email, password: 'a good password' } });
    const mail = await smtp.waitFor(email, /confirm/i);
    const link = mail.text.match(/https?:\/\/\S+/)![0];
    const path = new URL(link).pathname + new URL(link).search;

    const res = await fetch(server.url + path);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, message: 'Email vérifié avec succès' });
    expect((await server.ok(Login, { email, password: 'a good password' })).login.__typename).toBe('MutationLoginSuccess');

    const again = await fetch(server.url + path);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ error: 'This link was already used.', code: 'INVALID_TOKEN' });
    expect(tokenFrom(mail)).toBeTruthy();
  });

  it('answers a missing or unknown token with 400 in the family error format', async () => {
    for (const path of ['/auth/verify-email', '/auth/verify-email?token=nope']) {
      const res = await fetch(server.url + path);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'This link is invalid.', code: 'INVALID_TOKEN' });
    }
  });
});
