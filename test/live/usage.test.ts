import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Decimal } from '../../src/lib/money.js';
import { costMicro } from '../../src/socks/metering.js';
import { liveSubscriptionCount } from '../../src/modules/live/live.service.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, Me } from '../helpers/operations.js';
import { BalanceChanged, listening, subscribe, UsageUpdated, wsClient, type Subscription } from './helpers.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let echo: net.Server;
let echoPort: number;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  admin = await adminUser(server, smtp);
  echo = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  echo?.close();
  await server?.stop();
  await smtp?.stop();
});

async function fundedUserWithKey(amount: string, dailyLimit?: string) {
  const user = await verifiedUser(server, smtp);
  await server.ok(AdjustBalance, { userId: user.id, amount, note: 'live usage test' }, { token: admin.accessToken });
  const { key, apiKey } = await createKeyOk(server, user, { dailyLimit });
  return { user, key, keyId: apiKey.id };
}

/**
 * Sends `chunks` chunks of `size` bytes through the shared SOCKS5 port to the echo origin, one
 * every `everyMs`, reading the echo; resolves with the bytes sent and received once closed.
 */
async function echoTraffic(key: string, chunks: number, size: number, everyMs: number): Promise<{ sent: number; received: number }> {
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: { host: '127.0.0.1', port: server.socks.shared!, type: 5, userId: key, password: '' },
    destination: { host: '127.0.0.1', port: echoPort },
    timeout: 5_000,
  });
  onTestFinished(() => {
    socket.destroy();
  });
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  const chunk = Buffer.alloc(size, 0x5a);
  for (let i = 0; i < chunks; i++) {
    socket.write(chunk);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const total = chunks * size;
  const deadline = Date.now() + 5000;
  while (received < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  socket.end();
  await once(socket, 'close');
  return { sent: total, received };
}

type UsageEvent = { userId: string; apiKeyId: string; product: string; bytesIn: string; bytesOut: string; bytes: string; cost: string; remainingCredit: string; at: string };

/** Takes usage events until their bytes add up to `total` (or 6 s pass). */
async function usageUntil(sub: Subscription<{ usageUpdated: UsageEvent }>, total: number): Promise<UsageEvent[]> {
  const events: UsageEvent[] = [];
  let bytes = 0;
  while (bytes < total) {
    const { data, errors } = await sub.next(6000);
    expect(errors).toBeUndefined();
    events.push(data!.usageUpdated);
    bytes += Number(data!.usageUpdated.bytes);
  }
  return events;
}

describe('usageUpdated', () => {
  it('reports real SOCKS5 traffic with exact bytes, cost and remaining credit, at most once a second per key', async () => {
    // Balance 10, key limited to 1 per day: the key may spend min(10, 1 - spent).
    const { user, key, keyId } = await fundedUserWithKey('10', '1');
    const before = liveSubscriptionCount();
    const live = wsClient(server, { authorization: `Bearer ${user.accessToken}` });
    const usage = subscribe(live, UsageUpdated, {});
    const balance = subscribe(live, BalanceChanged, {});
    await listening(before, 2);

    // 24 chunks of 16 KiB, one every 125 ms: traffic for 3 s, so several meter flushes.
    const { sent, received } = await echoTraffic(key, 24, 16 * 1024, 125);
    expect(received).toBe(sent);
    const events = await usageUntil(usage, sent + received);

    const totalCost = costMicro(sent + received, 2_500_000, 1_000_000);
    const sum = (pick: (e: UsageEvent) => string) => events.reduce((s, e) => s.plus(pick(e)), new Decimal(0));
    expect(sum((e) => e.bytesOut).toNumber()).toBe(sent);
    expect(sum((e) => e.bytesIn).toNumber()).toBe(received);
    expect(sum((e) => e.cost).times(1e6).toNumber()).toBe(totalCost);
    for (const e of events) {
      expect(e).toMatchObject({ userId: user.id, apiKeyId: keyId, product: 'shared' });
      expect(Number(e.bytes)).toBe(Number(e.bytesIn) + Number(e.bytesOut));
      expect(e.cost).toMatch(/^\d+\.\d{6}$/);
    }
    expect(events.length).toBeGreaterThanOrEqual(2);
    const times = events.map((e) => Date.parse(e.at));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, 'at most one update a second').toBeGreaterThanOrEqual(990);
    // 3 s of traffic cannot give more than one update per second (plus the one after the end).
    expect(events.length).toBeLessThanOrEqual(5);
    // After the last write nothing is pending: the key's daily limit left is exactly 1 - cost.
    expect(new Decimal(events.at(-1)!.remainingCredit).times(1e6).toNumber()).toBe(1_000_000 - totalCost);

    // The same writes moved the balance: consumption transactions of this key, ending at 10 - cost.
    let last = '';
    while (last !== new Decimal(10_000_000 - totalCost).dividedBy(1e6).toFixed(6)) {
      const { data } = await balance.next(6000);
      expect(data!.balanceChanged.transaction).toMatchObject({ type: 'consumption', apiKeyId: keyId, apiKeyName: 'Prod' });
      last = data!.balanceChanged.balance;
    }
    expect((await server.ok(Me, {}, { token: user.accessToken })).me.balance).toBe(last);
  });

  it("never shows one user's traffic to another, and narrows to one key with apiKeyId", async () => {
    const alice = await fundedUserWithKey('10');
    const bob = await fundedUserWithKey('10');
    const second = await createKeyOk(server, alice.user, { name: 'second' });
    const before = liveSubscriptionCount();
    const bobSub = subscribe(wsClient(server, { authorization: `Bearer ${bob.user.accessToken}` }), UsageUpdated, {});
    const aliceSecond = subscribe(wsClient(server, { authorization: `Bearer ${alice.user.accessToken}` }), UsageUpdated, { apiKeyId: second.apiKey.id });
    await listening(before, 2);

    const aliceFirst = await echoTraffic(alice.key, 2, 1000, 10);
    await echoTraffic(second.key, 1, 700, 10);
    const bobs = await echoTraffic(bob.key, 1, 500, 10);

    // Bob's events are his only: the first one carries his 1,000 bytes, none of Alice's.
    const bobEvents = await usageUntil(bobSub, bobs.sent + bobs.received);
    expect(bobEvents.every((e) => e.userId === bob.user.id && e.apiKeyId === bob.keyId)).toBe(true);
    expect(bobEvents.reduce((s, e) => s + Number(e.bytes), 0)).toBe(1000);
    // Alice's subscription on her second key sees only that key's 1,400 bytes.
    const secondEvents = await usageUntil(aliceSecond, 1400);
    expect(secondEvents.every((e) => e.apiKeyId === second.apiKey.id)).toBe(true);
    expect(secondEvents.reduce((s, e) => s + Number(e.bytes), 0)).toBe(1400);
    expect(aliceFirst.sent).toBe(2000);
  });

  it("lets an admin watch an account's usage; another user naming it is FORBIDDEN", async () => {
    const alice = await fundedUserWithKey('10');
    const bob = await verifiedUser(server, smtp);
    const forbidden = subscribe(wsClient(server, { authorization: `Bearer ${bob.accessToken}` }), UsageUpdated, { userId: alice.user.id });
    expect((await forbidden.next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const before = liveSubscriptionCount();
    const watched = subscribe(wsClient(server, { authorization: `Bearer ${admin.accessToken}` }), UsageUpdated, { userId: alice.user.id });
    await listening(before);
    const traffic = await echoTraffic(alice.key, 1, 300, 10);
    const events = await usageUntil(watched, traffic.sent + traffic.received);
    expect(events.every((e) => e.userId === alice.user.id)).toBe(true);
  });
});
