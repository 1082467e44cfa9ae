import { describe, expect, it } from 'vitest';
import { prisma } from '../src/db.js';
import { recordTraffic, type TrafficRecord } from '../src/modules/usage/usage.service.js';
import { databaseForThisFile } from './helpers/database.js';

// The meter's per-second write, against the database directly: one statement that must leave
// buckets, ledger rows and the balance exactly as the ledger's rules say, or nothing at all.
databaseForThisFile('record-traffic');

async function account(name: string, balance: string) {
  const user = await prisma.user.create({ data: { username: name, balance } });
  const key = (n: string) => prisma.apiKey.create({ data: { userId: user.id, name: n, prefix: 'lpf_test', hash: `${name}-${n}`, encrypted: 'unused' } });
  return { user, keys: [await key('a'), await key('b')] };
}

const thisHour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
const lastHour = new Date(thisHour.getTime() - 3_600_000);

async function state(userId: number) {
  const [user, rows, buckets] = await Promise.all([
    prisma.user.findUniqueOrThrow({ where: { id: userId }, select: { balance: true } }),
    prisma.ledgerTransaction.findMany({ where: { userId }, orderBy: { id: 'asc' } }),
    prisma.usageBucket.findMany({ where: { userId }, orderBy: [{ apiKeyId: 'asc' }, { hour: 'asc' }, { product: 'asc' }] }),
  ]);
  return {
    balance: user.balance.toFixed(6),
    rows: rows.map((r) => ({ type: r.type, subtype: r.subtype, label: r.subtypeLabel, amount: r.amount.toFixed(6), after: r.balanceAfter?.toFixed(6), key: r.apiKeyId })),
    buckets: buckets.map((b) => ({ key: b.apiKeyId, product: b.product, hour: b.hour.toISOString(), up: b.bytesUp, down: b.bytesDown, cost: b.cost.toFixed(6), connections: b.connections })),
  };
}

describe('recordTraffic', () => {
  it('writes buckets, one consumption row per costing record with running balances, and the balance, in one go', async () => {
    const { user, keys } = await account('meter-many', '10');
    const [a, b] = [keys[0]!, keys[1]!];
    const records: TrafficRecord[] = [
      { apiKeyId: a.id, product: 'shared', hour: thisHour, bytesUp: 1_000, bytesDown: 99_000, connections: 3, costMicro: 175 },
      { apiKeyId: b.id, product: 'dedicated', hour: thisHour, bytesUp: 6_000_000_000, bytesDown: 1, connections: 1, costMicro: 1_234_567 },
      { apiKeyId: b.id, product: 'shared', hour: lastHour, bytesUp: 5, bytesDown: 7, connections: 0, costMicro: 0 },
    ];
    const events = await recordTraffic(user.id, records);

    expect(events).toEqual([
      { userId: user.id, balance: '9.999825', transactionId: expect.any(Number), type: 'consumption', amount: '-0.000175', apiKeyId: a.id },
      { userId: user.id, balance: '8.765258', transactionId: expect.any(Number), type: 'consumption', amount: '-1.234567', apiKeyId: b.id },
    ]);
    expect(events[1]!.transactionId).toBeGreaterThan(events[0]!.transactionId);
    const s = await state(user.id);
    expect(s.balance).toBe('8.765258');
    expect(s.rows).toEqual([
      { type: 'consumption', subtype: 10, label: 'Mutualisé', amount: '-0.000175', after: '9.999825', key: a.id },
      { type: 'consumption', subtype: 11, label: 'Dédié', amount: '-1.234567', after: '8.765258', key: b.id },
    ]);
    expect(s.buckets).toEqual([
      { key: a.id, product: 'shared', hour: thisHour.toISOString(), up: 1_000n, down: 99_000n, cost: '0.000175', connections: 3 },
      { key: b.id, product: 'shared', hour: lastHour.toISOString(), up: 5n, down: 7n, cost: '0.000000', connections: 0 },
      { key: b.id, product: 'dedicated', hour: thisHour.toISOString(), up: 6_000_000_000n, down: 1n, cost: '1.234567', connections: 1 },
    ]);
  });

  it("adds to the hour's bucket on the next write, and writes no row or balance change for traffic that costs nothing", async () => {
    const { user, keys } = await account('meter-again', '1');
    const key = keys[0]!.id;
    await recordTraffic(user.id, [{ apiKeyId: key, product: 'shared', hour: thisHour, bytesUp: 10, bytesDown: 20, connections: 1, costMicro: 3 }]);
    expect(await recordTraffic(user.id, [{ apiKeyId: key, product: 'shared', hour: thisHour, bytesUp: 1, bytesDown: 2, connections: 2, costMicro: 0 }])).toEqual([]);
    await recordTraffic(user.id, [{ apiKeyId: key, product: 'shared', hour: thisHour, bytesUp: 100, bytesDown: 200, connections: 0, costMicro: 30 }]);

    const s = await state(user.id);
    expect(s.balance).toBe('0.999967');
    expect(s.rows.map((r) => [r.amount, r.after])).toEqual([
      ['-0.000003', '0.999997'],
      ['-0.000030', '0.999967'],
    ]);
    expect(s.buckets).toEqual([{ key, product: 'shared', hour: thisHour.toISOString(), up: 111n, down: 222n, cost: '0.000033', connections: 3 }]);
    expect(await recordTraffic(user.id, [])).toEqual([]);
  });

  it('writes nothing at all when part of the write fails', async () => {
    const { user, keys } = await account('meter-fail', '5');
    const before = await state(user.id);
    const records: TrafficRecord[] = [
      { apiKeyId: keys[0]!.id, product: 'shared', hour: thisHour, bytesUp: 1, bytesDown: 1, connections: 1, costMicro: 500_000 },
      // A key that does not exist: its bucket breaks a foreign key.
      { apiKeyId: 987_654, product: 'shared', hour: thisHour, bytesUp: 1, bytesDown: 1, connections: 1, costMicro: 500_000 },
    ];
    await expect(recordTraffic(user.id, records)).rejects.toThrow();
    expect(await state(user.id)).toEqual(before);
  });

  it('keeps the sum of the rows equal to the balance under concurrent writes for one user', async () => {
    const { user, keys } = await account('meter-race', '0');
    const writes = Array.from({ length: 20 }, (_, i) =>
      recordTraffic(user.id, [{ apiKeyId: keys[i % 2]!.id, product: 'shared', hour: thisHour, bytesUp: i, bytesDown: 0, connections: 1, costMicro: 1 + i }]),
    );
    await Promise.all(writes);
    const s = await state(user.id);
    const total = s.rows.reduce((sum, r) => sum + Math.round(Number(r.amount) * 1e6), 0);
    expect(s.balance).toBe((total / 1e6).toFixed(6));
    expect(total).toBe(-210);
    // Running balances are consistent in commit order: each row's balance follows the one before.
    let balance = 0;
    for (const r of s.rows) {
      balance += Math.round(Number(r.amount) * 1e6);
      expect(Math.round(Number(r.after) * 1e6)).toBe(balance);
    }
  });
});
