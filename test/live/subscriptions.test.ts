import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { bus } from '../../src/bus.js';
import { prisma } from '../../src/db.js';
import { liveSubscriptionCount } from '../../src/modules/live/live.service.js';
import { subscriptionExecutions } from '../../src/graphql/shared-subscriptions.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, CreateKey, RegenerateKey, RevokeKey, UpdateKey } from '../helpers/operations.js';
import {
  BalanceChanged,
  DepositStatusChanged,
  KeyChanged,
  listening,
  OrderStatusChanged,
  ProxyStatusChanged,
  subscribe,
  UsageUpdated,
  wsClient,
} from './helpers.js';

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

const asUser = (user: TestUser) => ({ authorization: `Bearer ${user.accessToken}` });

async function credit(user: TestUser, amount: string, note = 'live test') {
  const res = await server.ok(AdjustBalance, { userId: user.id, amount, note }, { token: admin.accessToken });
  if (res.adjustBalance.__typename !== 'MutationAdjustBalanceSuccess') throw new Error(JSON.stringify(res.adjustBalance));
  return res.adjustBalance.data;
}

async function keyWithScopes(user: TestUser, scopes: ('account' | 'keys' | 'billing' | 'proxy')[]) {
  const res = await server.ok(CreateKey, { input: { name: `scoped ${scopes.join('+')}`, scopes } }, { token: user.accessToken });
  if (res.createApiKey.__typename !== 'MutationCreateApiKeySuccess') throw new Error(JSON.stringify(res.createApiKey));
  return res.createApiKey.data;
}

describe('balanceChanged', () => {
  it('delivers an admin credit to the owner after commit: the new balance and its transaction', async () => {
    const alice = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const sub = subscribe(wsClient(server, asUser(alice)), BalanceChanged, {});
    await listening(before);
    const tx = await credit(alice, '12.5', 'welcome credit');
    const { data, errors } = await sub.next();
    expect(errors).toBeUndefined();
    expect(data!.balanceChanged).toEqual({
      userId: alice.id,
      balance: '12.500000',
      transaction: {
        id: tx.id,
        type: 'adjustment',
        subtypeLabel: tx.subtypeLabel,
        amount: '12.500000',
        balanceAfter: '12.500000',
        note: 'welcome credit',
        apiKeyId: null,
        apiKeyName: null,
      },
    });
    // A debit moves it again, in order.
    await credit(alice, '-2.25');
    expect((await sub.next()).data!.balanceChanged.balance).toBe('10.250000');
  });

  it('loads the transaction once per event, however many subscribers watch the account', async () => {
    const alice = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const subs = Array.from({ length: 5 }, () => subscribe(wsClient(server, asUser(alice)), BalanceChanged, {}));
    await listening(before, 5);
    const loads = vi.spyOn(prisma.ledgerTransaction, 'findUniqueOrThrow');
    onTestFinished(() => loads.mockRestore());
    const executions = subscriptionExecutions();
    await credit(alice, '1');
    for (const sub of subs) expect((await sub.next()).data!.balanceChanged.balance).toBe('1.000000');
    expect(loads).toHaveBeenCalledTimes(1);
    // The five identical subscriptions of one viewer share one execution of the event.
    expect(subscriptionExecutions() - executions).toBe(1);
  });

  it("never shows one user's balance changes to another", async () => {
    const alice = await verifiedUser(server, smtp);
    const bob = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const aliceSub = subscribe(wsClient(server, asUser(alice)), BalanceChanged, {});
    const bobSub = subscribe(wsClient(server, asUser(bob)), BalanceChanged, {});
    await listening(before, 2);
    await credit(bob, '3');
    await credit(alice, '5');
    // Events arrive in order: Alice's first event is her own, so Bob's was filtered out.
    expect((await aliceSub.next()).data!.balanceChanged).toMatchObject({ userId: alice.id, balance: '5.000000' });
    expect((await bobSub.next()).data!.balanceChanged).toMatchObject({ userId: bob.id, balance: '3.000000' });
    expect(aliceSub.results).toHaveLength(1);
    expect(bobSub.results).toHaveLength(1);
  });

  it('an API key needs the billing scope (FORBIDDEN otherwise); with it, the events arrive', async () => {
    const alice = await verifiedUser(server, smtp);
    const keysOnly = await keyWithScopes(alice, ['keys']);
    const denied = subscribe(wsClient(server, { apiKey: keysOnly.key }), BalanceChanged, {});
    const result = await denied.next();
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await denied.ended;

    const billing = await keyWithScopes(alice, ['billing']);
    const before = liveSubscriptionCount();
    const allowed = subscribe(wsClient(server, { apiKey: billing.key }), BalanceChanged, {});
    await listening(before);
    await credit(alice, '1');
    expect((await allowed.next()).data!.balanceChanged.balance).toBe('1.000000');
  });
});

describe('who may watch which account', () => {
  it('refuses an anonymous subscriber with UNAUTHENTICATED', async () => {
    const sub = subscribe(wsClient(server), BalanceChanged, {});
    const result = await sub.next();
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await sub.ended;
  });

  it("refuses a non-admin naming another account with FORBIDDEN, on every subscription", async () => {
    const alice = await verifiedUser(server, smtp);
    const bob = await verifiedUser(server, smtp);
    const live = wsClient(server, asUser(alice));
    const docs = { BalanceChanged, UsageUpdated, KeyChanged, ProxyStatusChanged, OrderStatusChanged, DepositStatusChanged };
    for (const [name, doc] of Object.entries(docs)) {
      const sub = subscribe(live, doc as TypedDocumentNode<unknown, { userId?: string | null }>, { userId: bob.id });
      const result = await sub.next();
      expect(result.errors?.[0]?.extensions?.code, name).toBe('FORBIDDEN');
      expect(result.data ?? null, name).toBeNull();
      await sub.ended;
    }
    // Naming oneself is the same as naming nobody.
    const before = liveSubscriptionCount();
    const own = subscribe(live, BalanceChanged, { userId: alice.id });
    await listening(before);
    await credit(alice, '2');
    expect((await own.next()).data!.balanceChanged.userId).toBe(alice.id);
  });

  it("lets an admin watch any account by id, and only that account's events", async () => {
    const alice = await verifiedUser(server, smtp);
    const bob = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const sub = subscribe(wsClient(server, asUser(admin)), BalanceChanged, { userId: alice.id });
    await listening(before);
    await credit(bob, '4');
    await credit(alice, '6');
    expect((await sub.next()).data!.balanceChanged).toMatchObject({ userId: alice.id, balance: '6.000000' });
    expect(sub.results).toHaveLength(1);
  });

  it('answers an admin naming an unknown account with NOT_FOUND, and a malformed id with BAD_USER_INPUT', async () => {
    const live = wsClient(server, asUser(admin));
    const missing = subscribe(live, BalanceChanged, { userId: '999999' });
    expect((await missing.next()).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const malformed = subscribe(live, BalanceChanged, { userId: 'abc' });
    const bad = await malformed.next();
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
  });
});

describe('keyChanged', () => {
  it('reports create, update, revoke and regenerate of the own keys, with the key as it is now', async () => {
    const alice = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const sub = subscribe(wsClient(server, asUser(alice)), KeyChanged, {});
    await listening(before);

    const { apiKey } = await createKeyOk(server, alice, { name: 'Watched' });
    expect((await sub.next()).data!.keyChanged).toEqual({
      change: 'created',
      apiKeyId: apiKey.id,
      userId: alice.id,
      apiKey: { id: apiKey.id, name: 'Watched', active: true, dailyLimit: null },
    });

    await server.ok(UpdateKey, { id: apiKey.id, input: { dailyLimit: '3.5' } }, { token: alice.accessToken });
    expect((await sub.next()).data!.keyChanged).toMatchObject({ change: 'updated', apiKey: { dailyLimit: '3.500000' } });

    await server.ok(RegenerateKey, { id: apiKey.id }, { token: alice.accessToken });
    expect((await sub.next()).data!.keyChanged).toMatchObject({ change: 'regenerated', apiKeyId: apiKey.id, apiKey: { active: true } });

    await server.ok(RevokeKey, { id: apiKey.id }, { token: alice.accessToken });
    expect((await sub.next()).data!.keyChanged).toMatchObject({ change: 'revoked', apiKeyId: apiKey.id, apiKey: { active: false } });
  });

  it("never shows one user's key changes to another; needs the keys scope", async () => {
    const alice = await verifiedUser(server, smtp);
    const bob = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const aliceSub = subscribe(wsClient(server, asUser(alice)), KeyChanged, {});
    await listening(before);
    const bobKey = await createKeyOk(server, bob, { name: 'Bob' });
    await server.ok(RevokeKey, { id: bobKey.apiKey.id }, { token: bob.accessToken });
    const aliceKey = await createKeyOk(server, alice, { name: 'Alice' });
    expect((await aliceSub.next()).data!.keyChanged).toMatchObject({ change: 'created', apiKeyId: aliceKey.apiKey.id, userId: alice.id });
    expect(aliceSub.results).toHaveLength(1);

    const billingOnly = await keyWithScopes(alice, ['billing']);
    const denied = subscribe(wsClient(server, { apiKey: billingOnly.key }), KeyChanged, {});
    expect((await denied.next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('proxy, order and deposit status (fed by the bus)', () => {
  it('deliver each account only its own events, with the payload as published', async () => {
    const alice = await verifiedUser(server, smtp);
    const bob = await verifiedUser(server, smtp);
    const [a, b] = [Number(alice.id), Number(bob.id)];
    const live = wsClient(server, asUser(alice));
    const before = liveSubscriptionCount();
    const proxy = subscribe(live, ProxyStatusChanged, {});
    const order = subscribe(live, OrderStatusChanged, {});
    const deposit = subscribe(live, DepositStatusChanged, {});
    await listening(before, 3);
    const at = '2026-03-28T12:00:00.000Z';
    bus.publish('proxy:status', { proxyId: 7, userId: b, status: 'active', previousStatus: 'pending', at });
    bus.publish('proxy:status', { proxyId: 8, userId: a, status: 'active', previousStatus: null, at });
    bus.publish('order:status', { orderId: 3, userId: b, status: 'paid', previousStatus: 'created', at });
    bus.publish('order:status', { orderId: 4, userId: a, status: 'paid', previousStatus: 'created', at });
    bus.publish('deposit:status', { transactionId: 11, userId: b, status: 'confirmed', confirmations: 12, txHash: '0xbb', chainId: 1, at });
    bus.publish('deposit:status', { transactionId: 12, userId: a, status: 'pending', confirmations: 0, txHash: null, chainId: null, at });

    expect((await proxy.next()).data!.proxyStatusChanged).toEqual({ proxyId: '8', userId: alice.id, status: 'active', previousStatus: null, at });
    expect((await order.next()).data!.orderStatusChanged).toEqual({ orderId: '4', userId: alice.id, status: 'paid', previousStatus: 'created', at });
    expect((await deposit.next()).data!.depositStatusChanged).toEqual({
      transactionId: '12',
      userId: alice.id,
      status: 'pending',
      confirmations: 0,
      txHash: null,
      chainId: null,
      at,
    });
    expect([proxy.results.length, order.results.length, deposit.results.length]).toEqual([1, 1, 1]);
  });

  it('need the proxy scope (proxy status) and the billing scope (orders, deposits)', async () => {
    const alice = await verifiedUser(server, smtp);
    const billing = wsClient(server, { apiKey: (await keyWithScopes(alice, ['billing'])).key });
    const proxy = wsClient(server, { apiKey: (await keyWithScopes(alice, ['proxy'])).key });
    expect((await subscribe(billing, ProxyStatusChanged, {}).next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await subscribe(billing, UsageUpdated, {}).next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await subscribe(proxy, OrderStatusChanged, {}).next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await subscribe(proxy, DepositStatusChanged, {}).next()).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('subscriptions end cleanly', () => {
  it('stop listening to the bus when the client unsubscribes', async () => {
    const alice = await verifiedUser(server, smtp);
    const before = liveSubscriptionCount();
    const sub = subscribe(wsClient(server, asUser(alice)), BalanceChanged, {});
    await listening(before);
    sub.stop();
    const deadline = Date.now() + 2000;
    while (liveSubscriptionCount() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(liveSubscriptionCount()).toBe(before);
  });
});
