import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, Me, RevokeKey, UpdateKey } from '../helpers/operations.js';
import { bus } from '../../src/bus.js';
import { prisma } from '../../src/db.js';
import { costMicro } from '../../src/socks/metering.js';
import { updateAccountLimits } from '../../src/modules/settings/settings.service.js';
import { Decimal, type Money } from '../../src/lib/money.js';
import { windowStarts } from '../../src/modules/usage/windows.js';
import { authenticate, rawConnect, readReply } from './helpers.js';
import { encodeCredentials, encodeGreeting, Method } from '../../src/socks/protocol.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let origin: http.Server;
let originUrl: string;

const CHUNK = Buffer.alloc(64 * 1024, 7);

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  admin = await adminUser(server, smtp);
  // /bytes/N answers N bytes; /slow trickles 64 KiB every 50 ms for at most 20 s.
  origin = http.createServer((req, res) => {
    const [, kind, n] = req.url!.split('/');
    if (kind === 'bytes') {
      let left = Number(n);
      res.writeHead(200, { 'content-length': left });
      const pump = () => {
        while (left > 0) {
          const part = CHUNK.subarray(0, Math.min(left, CHUNK.length));
          left -= part.length;
          if (!res.write(part)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else {
      res.writeHead(200);
      const timer = setInterval(() => res.write(CHUNK), 50);
      const stop = () => clearInterval(timer);
      setTimeout(() => (stop(), res.end()), 20_000).unref();
      res.on('close', stop);
    }
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});
afterAll(async () => {
  origin?.closeAllConnections();
  origin?.close();
  await server?.stop();
  await smtp?.stop();
});

interface CurlResult {
  code: number | null;
  stderr: string;
  sizeRequest: number;
  sizeHeader: number;
  sizeDownload: number;
  ms: number;
}

function curl(port: number, username: string, path: string, scheme = 'socks5h'): Promise<CurlResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '--max-time', '30', '-x', `${scheme}://${username}@127.0.0.1:${port}`, '-w', '%{size_request} %{size_header} %{size_download}', `${path.startsWith('http') ? path : originUrl + path}`]);
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      const [req, head, body] = out.trim().split(' ').map(Number);
      resolve({ code, stderr, sizeRequest: req ?? 0, sizeHeader: head ?? 0, sizeDownload: body ?? 0, ms: Date.now() - started });
    });
  });
}

async function fundedUserWithKey(amount: string, keyInput: { dailyLimit?: string } = {}) {
  const user = await verifiedUser(server, smtp);
  if (amount !== '0') await server.ok(AdjustBalance, { userId: user.id, amount, note: 'test credit' }, { token: admin.accessToken });
  const { key, apiKey } = await createKeyOk(server, user, keyInput);
  return { user, key, keyId: Number(apiKey.id) };
}

const balanceOf = async (user: TestUser) => new Decimal((await server.ok(Me, {}, { token: user.accessToken })).me.balance);

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const buckets = (keyId: number) => prisma.usageBucket.findMany({ where: { apiKeyId: keyId } });
const micro = (m: Money) => Number(m.times(1e6).toFixed(0));

describe('metered SOCKS5 proxy', () => {
  it('meters every byte of a curl download and charges exactly price × bytes (shared)', async () => {
    const { user, key, keyId } = await fundedUserWithKey('10');
    const res = await curl(server.socks.shared!, key, '/bytes/2000000');
    expect(res.code).toBe(0);
    expect(res.sizeDownload).toBe(2_000_000);
    const up = res.sizeRequest;
    const down = res.sizeHeader + res.sizeDownload;
    const rows = await until(() => buckets(keyId), (b) => b.length === 1 && Number(b[0]!.bytesDown) === down);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ product: 'shared', bytesUp: BigInt(up), bytesDown: BigInt(down), connections: 1 });
    // 2.50 per GB at rate 1 (no tier reached): exact to the micro-unit.
    const cost = costMicro(up + down, 2_500_000, 1_000_000);
    expect(micro(rows[0]!.cost)).toBe(cost);
    expect(micro(await balanceOf(user))).toBe(10_000_000 - cost);
    const ledger = await prisma.ledgerTransaction.findMany({ where: { apiKeyId: keyId, type: 'consumption' } });
    expect(ledger.every((t) => t.subtype === 10 && t.subtypeLabel === 'Mutualisé')).toBe(true);
    expect(ledger.reduce((s, t) => s + micro(t.amount), 0)).toBe(-cost);
    const key1 = await prisma.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    expect(key1.lastUsedAt).toBeNull(); // SOCKS use is visible in usage, not a write per connection
  });

  it('meters the dedicated port at its own price with the socks client', async () => {
    const { user, key, keyId } = await fundedUserWithKey('10');
    const res = await curl(server.socks.dedicated!, key, '/bytes/500000', 'socks5');
    expect(res.code).toBe(0);
    const total = res.sizeRequest + res.sizeHeader + res.sizeDownload;
    const rows = await until(() => buckets(keyId), (b) => b.length === 1 && Number(b[0]!.bytesUp + b[0]!.bytesDown) === total);
    expect(rows[0]!.product).toBe('dedicated');
    expect(micro(await balanceOf(user))).toBe(10_000_000 - costMicro(total, 5_000_000, 1_000_000));
    expect((await prisma.ledgerTransaction.findFirstOrThrow({ where: { apiKeyId: keyId, type: 'consumption' } })).subtypeLabel).toBe('Dédié');
  });

  it('refuses a key without credit with "connection not allowed" (REP 2) and meters nothing', async () => {
    const { key, keyId } = await fundedUserWithKey('0');
    const res = await curl(server.socks.shared!, key, '/bytes/1000');
    expect(res.code).toBe(97);
    expect(res.stderr).toMatch(/\(2\)|not allowed/i);
    expect(await buckets(keyId)).toHaveLength(0);
  });

  it('cuts a transfer when the money runs out mid-stream, forwarding only the bytes paid for', async () => {
    // 0.01 at 2.50/GB buys 4,000,000 bytes (request and headers included); costs are rounded
    // to the micro-unit, and half a micro-unit is 200 bytes.
    const { user, key, keyId } = await fundedUserWithKey('0.01');
    const res = await curl(server.socks.shared!, key, '/bytes/20000000');
    expect(res.code).not.toBe(0);
    expect(res.sizeRequest + res.sizeHeader + res.sizeDownload).toBeLessThanOrEqual(4_000_200);
    expect(res.sizeDownload).toBeGreaterThan(3_000_000);
    const rows = await until(() => buckets(keyId), (b) => b.length === 1 && b[0]!.cost.gte('0.009999'));
    expect(Number(rows[0]!.bytesUp + rows[0]!.bytesDown)).toBeLessThanOrEqual(4_000_200);
    // What is left or owed is the rounding of the cost to the micro-unit, nothing more.
    expect(Math.abs(micro(await balanceOf(user)))).toBeLessThanOrEqual(1);
    expect((await curl(server.socks.shared!, key, '/bytes/1000')).code).toBe(97);
  });

  it('lets concurrent connections of one key share one budget, with no overspend', async () => {
    const { user, key, keyId } = await fundedUserWithKey('0.01');
    const results = await Promise.all(Array.from({ length: 4 }, () => curl(server.socks.shared!, key, '/bytes/10000000')));
    // (A request sent after the money ran out counts on curl's side but was never forwarded.)
    const received = results.reduce((s, r) => s + r.sizeHeader + r.sizeDownload, 0);
    expect(received).toBeLessThanOrEqual(4_000_200);
    const rows = await until(() => buckets(keyId), (b) => b.length === 1 && b[0]!.cost.gte('0.009999'));
    expect(Number(rows[0]!.bytesUp + rows[0]!.bytesDown)).toBeLessThanOrEqual(4_000_200);
    expect(Math.abs(micro(await balanceOf(user)))).toBeLessThanOrEqual(1);
  });

  it("enforces a key's daily limit, leaving the rest of the balance", async () => {
    // 0.005 at 2.50/GB is 2,000,000 bytes.
    const { user, key, keyId } = await fundedUserWithKey('10', { dailyLimit: '0.005' });
    const res = await curl(server.socks.shared!, key, '/bytes/10000000');
    expect(res.code).not.toBe(0);
    expect(res.sizeDownload).toBeLessThan(2_200_000);
    await until(() => buckets(keyId), (b) => b.length > 0 && b[0]!.cost.gte('0.005'));
    expect((await curl(server.socks.shared!, key, '/bytes/1000')).code).toBe(97);
    const balance = await balanceOf(user);
    expect(balance.gt(9.99)).toBe(true);
    // Another key of the same account is not held by that key's limit.
    const other = await createKeyOk(server, user);
    expect((await curl(server.socks.shared!, other.key, '/bytes/1000')).code).toBe(0);
  });

  it("enforces the account's daily limit across its keys", async () => {
    const { user, key } = await fundedUserWithKey('10');
    await updateAccountLimits(Number(user.id), { dailyLimit: new Decimal('0.004') });
    await new Promise((r) => setTimeout(r, 50));
    const res = await curl(server.socks.shared!, key, '/bytes/10000000');
    expect(res.code).not.toBe(0);
    expect(res.sizeDownload).toBeLessThan(1_800_000);
    await new Promise((r) => setTimeout(r, 1200));
    const second = await createKeyOk(server, user);
    expect((await curl(server.socks.shared!, second.key, '/bytes/1000')).code).toBe(97);
  });

  it('counts earlier spending of the week (key limit) and of the month (account limit)', async () => {
    const starts = windowStarts(new Date());
    // Weekly key limit 1.00 with 0.998 already spent this week: 0.002 left, 800,000 bytes.
    const weekly = await fundedUserWithKey('10');
    await server.ok(UpdateKey, { id: String(weekly.keyId), input: { weeklyLimit: '1' } }, { token: weekly.user.accessToken });
    await prisma.usageBucket.create({ data: { userId: Number(weekly.user.id), apiKeyId: weekly.keyId, product: 'shared', hour: starts.weekly, cost: new Decimal('0.998') } });
    const w = await curl(server.socks.shared!, weekly.key, '/bytes/5000000');
    expect(w.code).not.toBe(0);
    expect(w.sizeDownload).toBeLessThan(1_000_000);

    // Monthly account limit 2.00 with 1.999 spent this month on another key: 400,000 bytes left.
    const monthly = await fundedUserWithKey('10');
    const old = await createKeyOk(server, { ...monthly.user });
    await updateAccountLimits(Number(monthly.user.id), { monthlyLimit: new Decimal('2') });
    await prisma.usageBucket.create({ data: { userId: Number(monthly.user.id), apiKeyId: Number(old.apiKey.id), product: 'dedicated', hour: starts.monthly, cost: new Decimal('1.999') } });
    const m = await curl(server.socks.shared!, monthly.key, '/bytes/5000000');
    expect(m.code).not.toBe(0);
    expect(m.sizeDownload).toBeLessThan(600_000);
  });

  it('cuts open connections of a revoked key within a second and refuses it afterwards', async () => {
    const { user, key, keyId } = await fundedUserWithKey('10');
    const transfer = curl(server.socks.shared!, key, '/slow');
    await until(() => buckets(keyId), (b) => b.length > 0, 3000);
    const revokedAt = Date.now();
    await server.ok(RevokeKey, { id: String(keyId) }, { token: user.accessToken });
    const res = await transfer;
    expect(res.code).not.toBe(0);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    const again = await curl(server.socks.shared!, key, '/bytes/1000');
    expect(again.code).toBe(97);
  });

  it('applies a lowered key limit or account limit to open connections within a second', async () => {
    const { user, key, keyId } = await fundedUserWithKey('10');
    const byKey = curl(server.socks.shared!, key, '/slow');
    await until(() => buckets(keyId), (b) => b.length > 0, 3000);
    let changedAt = Date.now();
    await server.ok(UpdateKey, { id: String(keyId), input: { dailyLimit: '0.000001' } }, { token: user.accessToken });
    expect((await byKey).code).not.toBe(0);
    expect(Date.now() - changedAt).toBeLessThan(1500);

    const other = await createKeyOk(server, user);
    const byAccount = curl(server.socks.shared!, other.key, '/slow');
    await until(() => buckets(Number(other.apiKey.id)), (b) => b.length > 0, 3000);
    changedAt = Date.now();
    await updateAccountLimits(Number(user.id), { dailyLimit: new Decimal('0.000001') });
    expect((await byAccount).code).not.toBe(0);
    expect(Date.now() - changedAt).toBeLessThan(1500);
  });

  it('shrugs off a malformed balance event: other connections keep flowing and enforcement goes on', async () => {
    const a = await fundedUserWithKey('10');
    const b = await fundedUserWithKey('10');
    const transferA = curl(server.socks.shared!, a.key, '/slow');
    let bDone = false;
    const transferB = curl(server.socks.shared!, b.key, '/slow').finally(() => (bDone = true));
    await until(() => buckets(a.keyId), (rows) => rows.length > 0, 3000);
    await until(() => buckets(b.keyId), (rows) => rows.length > 0, 3000);
    // As another instance's bus could deliver it: an amount that is not one.
    await bus.publish('balance:changed', { userId: Number(a.user.id), balance: 'NaN', transactionId: 2 ** 31, type: 'consumption', amount: '1e-7', apiKeyId: a.keyId });
    await new Promise((r) => setTimeout(r, 300));
    // The balance taken to zero from outside still cuts A's open connection within a second.
    const debitAt = Date.now();
    const left = (await balanceOf(a.user)).negated().toFixed(6);
    await server.ok(AdjustBalance, { userId: a.user.id, amount: left, note: 'test debit' }, { token: admin.accessToken });
    expect((await transferA).code).not.toBe(0);
    expect(Date.now() - debitAt).toBeLessThan(1500);
    // B's transfer went on: the worker did not die with the event.
    expect(bDone).toBe(false);
    await server.ok(RevokeKey, { id: String(b.keyId) }, { token: b.user.accessToken });
    await transferB;
  });

  it('answers hostile handshakes on the real gate and keeps serving others', async () => {
    const { key } = await fundedUserWithKey('1');
    const port = server.socks.shared!;
    // 255-byte username: well-formed, unknown key → RFC 1929 failure.
    const long = await rawConnect(port);
    long.write(encodeGreeting([Method.UserPass]));
    expect([...(await long.read(2))]).toEqual([5, 2]);
    long.write(encodeCredentials('x'.repeat(255), ''));
    expect([...(await long.read(2))]).toEqual([1, 1]);
    // Wrong address type after a good key → REP 8.
    const badType = await rawConnect(port);
    await authenticate(badType, key);
    badType.write([5, 1, 0, 9, 127, 0, 0, 1, 0, 80]);
    expect((await readReply(badType)).reply).toBe(8);
    // Garbage and a half-open client that never finishes its greeting.
    const garbage = await rawConnect(port);
    garbage.write([0x16, 0x03, 0x01, 0xff, 0xff]);
    await garbage.closed();
    const halfOpen = await rawConnect(port);
    halfOpen.write([5]);
    // Others are served meanwhile.
    expect((await curl(port, key, '/bytes/1000')).code).toBe(0);
    halfOpen.socket.destroy();
  });

  it('refuses egress to private addresses not opened by EGRESS_ALLOW', async () => {
    const { key } = await fundedUserWithKey('1');
    const res = await curl(server.socks.shared!, key, 'http://10.255.255.1/');
    expect(res.code).toBe(97);
    expect(res.stderr).toMatch(/\(2\)|not allowed/i);
  });

  it('accepts session options in the username and refuses unknown ones', async () => {
    const { key } = await fundedUserWithKey('1');
    expect((await curl(server.socks.shared!, `${key}-session-abc123-lifetime-5`, '/bytes/100')).code).toBe(0);
    for (const bad of [`${key}-colour-red`, `${key}-lifetime-5`, `${key}-session-a-session-b`, `${key.slice(0, -1)}`]) {
      const res = await curl(server.socks.shared!, bad, '/bytes/100');
      expect(res.code, bad).toBe(97);
      expect(res.stderr, bad).toMatch(/auth|User was rejected/i);
    }
    const unknownCountry = await curl(server.socks.shared!, `${key}-country-fr`, '/bytes/100');
    expect(unknownCountry.code).toBe(97);
  });
});
