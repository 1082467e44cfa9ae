import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma, Prisma } from '../src/db.js';
import { forwardedAdapter, serveDatabase } from '../src/db-bridge.js';
import { PrismaClient } from '../src/generated/prisma/client.js';
import { databaseForThisFile } from './helpers/database.js';

// The SOCKS worker thread reaches the database through this bridge; here both ends share one
// thread, which exercises the same messages without a worker.
const database = databaseForThisFile('db-bridge');
let forwarded: PrismaClient;
let stopServing: () => Promise<void>;

beforeAll(() => {
  const { port1, port2 } = new MessageChannel();
  stopServing = serveDatabase(port2, database().adapter);
  forwarded = new PrismaClient({ adapter: forwardedAdapter(port1) });
});
// Runs before the helper's afterAll (after hooks run in reverse order): the bridge closes first.
afterAll(async () => {
  await forwarded?.$disconnect();
  await stopServing?.();
});

describe('a Prisma client on a forwarded database', () => {
  it('reads and writes the same database as the serving thread, money exact', async () => {
    const user = await forwarded.user.create({ data: { username: 'bridged', email: 'bridged@example.com', balance: new Prisma.Decimal('12.345678') } });
    const seen = await prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(seen.balance.toFixed(6)).toBe('12.345678');

    await forwarded.$executeRaw`UPDATE users SET balance = balance + ${new Prisma.Decimal('0.000001')} WHERE id = ${user.id}`;
    const [row] = await forwarded.$queryRaw<{ balance: Prisma.Decimal }[]>`SELECT balance FROM users WHERE id = ${user.id}`;
    expect(new Prisma.Decimal(row!.balance).toFixed(6)).toBe('12.345679');
  });

  it('maps a constraint violation to the same Prisma error as a direct client', async () => {
    await forwarded.user.create({ data: { username: 'twice', email: 'twice@example.com' } });
    const err = await forwarded.user.create({ data: { username: 'twice', email: 'twice-2@example.com' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect((err as Prisma.PrismaClientKnownRequestError).code).toBe('P2002');
  });

  it('commits a transaction whole, and rolls one back whole when it throws', async () => {
    await forwarded.$transaction(async (tx) => {
      await tx.user.create({ data: { username: 'tx-a', email: 'tx-a@example.com' } });
      await tx.user.create({ data: { username: 'tx-b', email: 'tx-b@example.com' } });
    });
    expect(await prisma.user.count({ where: { username: { in: ['tx-a', 'tx-b'] } } })).toBe(2);

    const failed = forwarded.$transaction(async (tx) => {
      await tx.user.create({ data: { username: 'tx-c', email: 'tx-c@example.com' } });
      throw new Error('changed my mind');
    });
    await expect(failed).rejects.toThrow('changed my mind');
    expect(await prisma.user.count({ where: { username: 'tx-c' } })).toBe(0);
  });

  it('serialises its transactions with the serving thread’s own writes', async () => {
    const user = await prisma.user.create({ data: { username: 'both', email: 'both@example.com' } });
    const bump = (client: PrismaClient) =>
      client.$transaction(async (tx) => {
        const { balance } = await tx.user.findUniqueOrThrow({ where: { id: user.id } });
        await tx.$executeRaw`SELECT pg_sleep(0.005)`;
        await tx.user.update({ where: { id: user.id }, data: { balance: balance.plus(1) } });
      }, { isolationLevel: Prisma.TransactionIsolationLevel.Serializable, timeout: 20_000 });
    const runs = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => bump(i % 2 ? forwarded : prisma)));
    const committed = runs.filter((r) => r.status === 'fulfilled').length;
    const { balance } = await prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    // Each committed increment is there once: none was lost to an interleaving of the two threads.
    expect(balance.toNumber()).toBe(committed);
    expect(committed).toBeGreaterThan(0);
  });
});
