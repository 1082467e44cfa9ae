import { existsSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { SocksClient } from 'socks';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { graphql } from '../src/generated/graphql/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { AdjustBalance, ChangePassword, Login, Me, RevokeKey } from './helpers/operations.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const KeyUsageToday = graphql(`
  query KeyUsageToday {
    keyUsage { keys { id name used { daily } } }
  }
`);

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let browser: Browser;
let origin: http.Server;
let originPort: number;

const CHUNK = Buffer.alloc(64 * 1024, 7);

beforeAll(async () => {
  // CI installs Debian's chromium (.ci/run); without it this suite fails rather than skips.
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH.`);
  }
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  admin = await adminUser(server, smtp);
  // /bytes/N answers N bytes at once; /trickle/N sends N chunks of 64 KiB, one every 100 ms.
  origin = http.createServer((req, res) => {
    const [, kind, n] = req.url!.split('/');
    const count = Math.min(Number(n) || 0, 1000);
    if (kind === 'bytes') {
      res.writeHead(200, { 'content-length': Number(n) });
      res.end(Buffer.alloc(Number(n), 1));
    } else if (kind === 'trickle') {
      res.writeHead(200, { 'content-length': count * CHUNK.length });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(CHUNK);
        if (++sent >= count) (clearInterval(timer), res.end());
      }, 100);
      res.on('close', () => clearInterval(timer));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  origin?.closeAllConnections();
  origin?.close();
  await server?.stop();
  await smtp?.stop();
});

/** A fetch of `path` through the proxy with the key, read to the end; resolves with the bytes received. */
async function socksGet(key: string, path: string): Promise<number> {
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: { host: '127.0.0.1', port: server.socks.shared!, type: 5, userId: key, password: '' },
    destination: { host: '127.0.0.1', port: originPort },
    timeout: 5_000,
  });
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
  return received;
}

async function fundedUser(amount: string) {
  const user = await verifiedUser(server, smtp);
  await server.ok(AdjustBalance, { userId: user.id, amount, note: 'dashboard test' }, { token: admin.accessToken });
  const created = await createKeyOk(server, user, { name: 'Live key' });
  return { user, key: created.key, keyId: created.apiKey.id };
}

const balanceOf = async (user: TestUser) => (await server.ok(Me, {}, { token: user.accessToken })).me.balance;

/** Polls until two reads 1.5 s apart agree (the meter flushes every second), at most `ms`. */
async function settled<T>(read: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1500));
    const next = await read();
    if (JSON.stringify(next) === JSON.stringify(last) || Date.now() > deadline) return next;
    last = next;
  }
}

async function openPage(base = server.url): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext();
  onTestFinished(() => context.close());
  const page = await context.newPage();
  // Uncaught errors and CSP violations both mean the page is broken under its own policy.
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`csp: ${msg.text()}`);
  });
  await page.goto(`${base}/dashboard`);
  return { page, problems };
}

const text = (page: Page, selector: string) => page.locator(selector).textContent();
const expectText = (page: Page, selector: string, expected: string | RegExp, timeout = 8_000) =>
  typeof expected === 'string'
    ? expect.poll(() => text(page, selector), { timeout }).toBe(expected)
    : expect.poll(() => text(page, selector), { timeout }).toMatch(expected);

async function logIn(page: Page, user: TestUser) {
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await page.click('#login-form button[type=submit]');
}

async function useKey(page: Page, key: string) {
  await page.fill('#api-key', key);
  await page.click('#key-form button[type=submit]');
}

const chartBytes = (page: Page) =>
  page.$$eval('#chart rect', (rects) => rects.reduce((sum, r) => sum + Number(r.getAttribute('data-bytes')), 0));

describe('GET /dashboard', () => {
  it('serves the page and its assets with their content types, a same-origin CSP and revalidation', async () => {
    const files: [string, RegExp, string][] = [
      ['/dashboard', /^text\/html; charset=utf-8$/, '<script src="/dashboard/dashboard.js"'],
      ['/dashboard/dashboard.js', /^text\/javascript; charset=utf-8$/, 'graphqlWs.createClient'],
      ['/dashboard/dashboard.css', /^text\/css; charset=utf-8$/, '#chart'],
      ['/dashboard/graphql-ws.js', /^text\/javascript; charset=utf-8$/, 'graphql-transport-ws'],
    ];
    for (const [path, type, snippet] of files) {
      const res = await fetch(server.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(type);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      for (const directive of ["script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"]) {
        expect(csp, path).toContain(directive);
      }
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const etag = res.headers.get('etag');
      expect(etag).toMatch(/^"[\w-]+"$/);
      expect(await res.text()).toContain(snippet);
      const again = await fetch(server.url + path, { headers: { 'if-none-match': etag! } });
      expect(again.status, path).toBe(304);
      expect(await again.text()).toBe('');
    }
  });

  it('answers 404 for unknown or traversing paths under /dashboard, 405 for other methods, HEAD without a body', async () => {
    for (const path of ['/dashboard/xyz', '/dashboard/index.html', '/dashboard/serve.ts', '/dashboard/..%2Fpackage.json', '/dashboard/dashboard.js/']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await res.text()).not.toContain('{');
    }
    const post = await fetch(`${server.url}/dashboard`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${server.url}/dashboard/dashboard.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(1000);
    expect(await head.text()).toBe('');
  });
});

describe('the live dashboard in Chromium', () => {
  it('logs in, shows the balance, and follows SOCKS5 traffic: exact new balance, per-key spend, a moving chart', async () => {
    const { user, key, keyId } = await fundedUser('10');
    const { page, problems } = await openPage();
    await logIn(page, user);
    await expectText(page, '#balance', '10.000000');
    await expectText(page, '#status', 'Live');
    await expectText(page, '#who', user.email);
    await expect.poll(() => page.evaluate(() => sessionStorage.getItem('relais.dashboard.auth'))).toContain('accessToken');
    // The credential lives in this tab only: nothing in localStorage, no cookie.
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.context().cookies()).toEqual([]);

    // A ledger write made elsewhere reaches the page through balanceChanged.
    await server.ok(AdjustBalance, { userId: user.id, amount: '1.5', note: 'top-up' }, { token: admin.accessToken });
    await expectText(page, '#balance', '11.500000');
    await expectText(page, '#last-change', /^1\.500000 \(.*top-up\)$/);

    const row = page.locator(`#keys tr[data-key-id="${keyId}"]`);
    await expect.poll(() => row.locator('.name').textContent()).toBe('Live key');
    expect(await row.locator('.spent').textContent()).toBe('0.000000');

    // Traffic that lasts ~3 s: the chart grows between two metering flushes while it flows.
    const trickle = socksGet(key, '/trickle/30');
    await expect.poll(() => chartBytes(page), { timeout: 5_000 }).toBeGreaterThan(0);
    const early = await chartBytes(page);
    await expect.poll(() => chartBytes(page), { timeout: 5_000 }).toBeGreaterThan(early);
    expect(await trickle).toBeGreaterThan(30 * CHUNK.length);
    expect(await socksGet(key, '/bytes/2000000')).toBeGreaterThan(2_000_000);

    // Once the meter has written everything, the page shows exactly what the server holds.
    const balance = await settled(() => balanceOf(user));
    expect(balance).not.toBe('11.500000');
    await expectText(page, '#balance', balance);
    const spent = (await server.ok(KeyUsageToday, {}, { token: user.accessToken })).keyUsage.keys.find((k) => k.id === keyId)!.used.daily;
    expect(spent).not.toBe('0.000000');
    await expectText(page, `#keys tr[data-key-id="${keyId}"] .spent`, spent);
    await expectText(page, '#today-spent', spent);
    await expectText(page, `#keys tr[data-key-id="${keyId}"] .bytes`, /^\d+(\.\d+)? MB$/);
    expect(await text(page, '#chart-total')).toMatch(/MB$/);
    expect(await chartBytes(page)).toBeGreaterThan(32 * CHUNK.length);

    // Ending the page's session elsewhere (a password change ends every other session)
    // closes the socket with 4403; the refresh token is gone too, so the page asks to log in.
    const changed = await server.ok(ChangePassword, { currentPassword: user.password, newPassword: 'another horse 43' }, { token: user.accessToken });
    expect(changed.changePassword.__typename).toBe('MutationChangePasswordSuccess');
    await expect.poll(() => page.locator('#login').isVisible(), { timeout: 5_000 }).toBe(true);
    await expectText(page, '#login-error', 'Your session has ended. Please log in again.');
    expect(await page.evaluate(() => sessionStorage.getItem('relais.dashboard.auth'))).toBeNull();
    expect(problems).toEqual([]);
  });

  it('shows the server\'s message for a wrong password and stays on the form', async () => {
    const user = await verifiedUser(server, smtp);
    const refused = await server.ok(Login, { email: user.email, password: 'wrong password 1' });
    expect(refused.login.__typename).toBe('AuthError');
    const message = refused.login.__typename === 'AuthError' ? refused.login.message : '';

    const { page, problems } = await openPage();
    await logIn(page, { ...user, password: 'wrong password 1' });
    await expectText(page, '#login-error', message);
    expect(await page.locator('#dashboard').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.getItem('relais.dashboard.auth'))).toBeNull();
    // The form never submits itself: the password stays out of the URL.
    expect(page.url()).toBe(`${server.url}/dashboard`);
    expect(problems).toEqual([]);
  });

  it('opens with a pasted API key, and revoking that key sends the page back to login', async () => {
    const { user, key, keyId } = await fundedUser('5');
    const { page, problems } = await openPage();
    await useKey(page, key);
    await expectText(page, '#balance', '5.000000');
    await expectText(page, '#status', 'Live');
    await expectText(page, '#who', `API key ${key.slice(0, 8)}…`);
    await expectText(page, `#keys tr[data-key-id="${keyId}"] .name`, 'Live key');

    const revoked = await server.ok(RevokeKey, { id: keyId }, { token: user.accessToken });
    expect(revoked.revokeApiKey.__typename).toBe('MutationRevokeApiKeySuccess');
    await expect.poll(() => page.locator('#login').isVisible(), { timeout: 3_000 }).toBe(true);
    await expectText(page, '#login-error', 'This API key is no longer valid (revoked, regenerated or expired).');
    expect(await page.locator('#dashboard').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.getItem('relais.dashboard.auth'))).toBeNull();
    expect(problems).toEqual([]);
  });

  it('refuses an unknown API key with a message', async () => {
    const { page } = await openPage();
    await useKey(page, `lpf_${'0'.repeat(32)}`);
    await expect.poll(() => page.locator('#login').isVisible(), { timeout: 5_000 }).toBe(true);
    await expectText(page, '#login-error', 'This API key was refused.');
  });

  it('reconnects after the connection drops and catches up on what changed meanwhile', async () => {
    const { user, key } = await fundedUser('3');
    // The page talks to the server through a TCP relay the test can cut.
    const sockets = new Set<net.Socket>();
    let blocked = false;
    const relay = net.createServer((client) => {
      if (blocked) return void client.destroy();
      const upstream = net.connect(Number(new URL(server.url).port), '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
      relay.close();
    });
    const { page, problems } = await openPage(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
    await useKey(page, key);
    await expectText(page, '#status', 'Live');
    await expectText(page, '#balance', '3.000000');

    blocked = true;
    for (const s of sockets) s.destroy();
    await expectText(page, '#status', 'Reconnecting…', 3_000);
    // Missed while disconnected: no event will ever bring it, the re-read after reconnecting must.
    await server.ok(AdjustBalance, { userId: user.id, amount: '2', note: 'while offline' }, { token: admin.accessToken });
    blocked = false;
    await expectText(page, '#status', 'Live', 10_000);
    await expectText(page, '#balance', '5.000000');
    await server.ok(AdjustBalance, { userId: user.id, amount: '0.25', note: 'after' }, { token: admin.accessToken });
    await expectText(page, '#balance', '5.250000');
    expect(problems).toEqual([]);
  });
});
