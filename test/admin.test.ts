import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { adminUser, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { AdjustBalance, Me, Users } from './helpers/operations.js';
import { prisma, Prisma } from '../src/db.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let alice: TestUser;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url });
  admin = await adminUser(server, smtp);
  alice = await verifiedUser(server, smtp);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

async function ledgerSum(userId: string) {
  const agg = await prisma.ledgerTransaction.aggregate({ where: { userId: Number(userId), status: 'confirmed' }, _sum: { amount: true } });
  return (agg._sum.amount ?? new Prisma.Decimal(0)).toFixed(6);
}

describe('admin', () => {
  it('lists admin permissions in me', async () => {
    const me = await server.ok(Me, {}, { token: admin.accessToken });
    expect(me.me.role).toBe('admin');
    expect(me.me.permissions).toEqual(expect.arrayContaining(['admin.users', 'admin.ledger']));
  });

  it('credits and debits with a note, as adjustment transactions that add up to the balance', async () => {
    const credit = await server.ok(AdjustBalance, { userId: alice.id, amount: '150.25', note: 'welcome credit' }, { token: admin.accessToken });
    expect(credit.adjustBalance).toMatchObject({
      __typename: 'MutationAdjustBalanceSuccess',
      data: { type: 'adjustment', subtype: 20, subtypeLabel: 'Crédit manuel', amount: '150.250000', balanceAfter: '150.250000', note: 'welcome credit' },
    });
    const debit = await server.ok(AdjustBalance, { userId: alice.id, amount: '-0.000001', note: 'rounding' }, { token: admin.accessToken });
    expect(debit.adjustBalance).toMatchObject({ data: { subtype: 21, amount: '-0.000001', balanceAfter: '150.249999' } });
    expect((await server.ok(Me, {}, { token: alice.accessToken })).me.balance).toBe('150.249999');
    expect(await ledgerSum(alice.id)).toBe('150.249999');
  });

  it('refuses a debit beyond the balance, a zero amount, an empty note and an unknown user, changing nothing', async () => {
    const before = (await server.ok(Me, {}, { token: alice.accessToken })).me.balance;
    const count = await prisma.ledgerTransaction.count();
    const cases = [
      [{ userId: alice.id, amount: '-100000', note: 'too much' }, 'InsufficientBalanceError'],
      [{ userId: alice.id, amount: '0', note: 'nothing' }, 'ValidationError'],
      [{ userId: alice.id, amount: '1', note: '  ' }, 'ValidationError'],
      [{ userId: '999999', amount: '1', note: 'ghost' }, 'NotFoundError'],
    ] as const;
    for (const [vars, type] of cases) {
      expect((await server.ok(AdjustBalance, vars, { token: admin.accessToken })).adjustBalance.__typename).toBe(type);
    }
    const float = await server.gql(AdjustBalance, { userId: alice.id, amount: '1e3', note: 'exponent' }, { token: admin.accessToken });
    expect(float.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await server.ok(Me, {}, { token: alice.accessToken })).me.balance).toBe(before);
    expect(await prisma.ledgerTransaction.count()).toBe(count);
  });

  it('stays exact under concurrent credits and debits', async () => {
    const bob = await verifiedUser(server, smtp);
    await server.ok(AdjustBalance, { userId: bob.id, amount: '10', note: 'start' }, { token: admin.accessToken });
    const ops = Array.from({ length: 40 }, (_, i) =>
      server.ok(AdjustBalance, { userId: bob.id, amount: i % 2 ? '-0.333333' : '0.100001', note: `op ${i}` }, { token: admin.accessToken }),
    );
    const results = await Promise.all(ops);
    expect(results.every((r) => r.adjustBalance.__typename === 'MutationAdjustBalanceSuccess')).toBe(true);
    // 10 + 20 × 0.100001 − 20 × 0.333333 = 5.33336
    expect((await server.ok(Me, {}, { token: bob.accessToken })).me.balance).toBe('5.333360');
    expect(await ledgerSum(bob.id)).toBe('5.333360');
  });

  it('never lets concurrent debits take the balance below zero', async () => {
    const carol = await verifiedUser(server, smtp);
    await server.ok(AdjustBalance, { userId: carol.id, amount: '1', note: 'start' }, { token: admin.accessToken });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => server.ok(AdjustBalance, { userId: carol.id, amount: '-0.3', note: 'spend' }, { token: admin.accessToken })),
    );
    expect(results.filter((r) => r.adjustBalance.__typename === 'MutationAdjustBalanceSuccess')).toHaveLength(3);
    expect((await server.ok(Me, {}, { token: carol.accessToken })).me.balance).toBe('0.100000');
    expect(await ledgerSum(carol.id)).toBe('0.100000');
  });

  it('lists users with their keys to admins only', async () => {
    const list = await server.ok(Users, { search: alice.username, first: 5 }, { token: admin.accessToken });
    expect(list.users.edges.map((e) => e.node.email)).toEqual([alice.email]);
    const denied = await server.gql(Users, { first: 5 }, { token: alice.accessToken });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const credit = await server.gql(AdjustBalance, { userId: alice.id, amount: '1000', note: 'self-service' }, { token: alice.accessToken });
    expect(credit.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(credit.data).toBeNull();
  });
});
