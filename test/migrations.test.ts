import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prisma, Prisma } from '../src/db.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../src/migrations.js';
import { databaseForThisFile, freshPostgres } from './helpers/database.js';

const database = databaseForThisFile('migrations');

describe('migrations', () => {
  it('applies every migration to an empty database and records it like prisma migrate deploy', async () => {
    const files = readMigrations();
    expect(files.length).toBeGreaterThan(0);
    expect(database().migrated.applied).toEqual(files.map((f) => f.name));
    const session = await database().openSession();
    try {
      const rows = await session.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
      expect(rows).toHaveLength(files.length);
      for (const [i, file] of files.entries()) {
        const sql = readFileSync(path.join(MIGRATIONS_DIR, file.name, 'migration.sql'));
        expect(rows[i]).toMatchObject({
          migration_name: file.name,
          checksum: createHash('sha256').update(sql).digest('hex'),
          applied_steps_count: 1,
          rolled_back_at: null,
          logs: null,
        });
        expect(rows[i]!.finished_at).toBeInstanceOf(Date);
        expect(String(rows[i]!.id)).toMatch(/^[0-9a-f-]{36}$/);
      }
      // A second run finds nothing to do.
      expect((await migrate(session)).applied).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it('reports an applied migration whose file changed, and refuses to start after a failed one', async () => {
    const session = await database().openSession();
    try {
      const files = readMigrations();
      const changed = files.map((f, i) => (i === 0 ? { ...f, checksum: 'x'.repeat(64) } : f));
      expect((await migrate(session, changed)).modified).toEqual([files[0]!.name]);

      await session.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, applied_steps_count) VALUES ('00000000-0000-0000-0000-000000000001', 'x', '29990101000000_half_done', 0)`);
      await expect(migrate(session)).rejects.toThrow(/29990101000000_half_done failed earlier/);
      await session.query(`DELETE FROM "_prisma_migrations" WHERE migration_name = '29990101000000_half_done'`);

      const broken = [...files, { name: '29990101000001_broken', sql: 'CREATE TABLE ok_one (id int); SELECT * FROM no_such_table;', checksum: 'y' }];
      await expect(migrate(session, broken)).rejects.toThrow(/29990101000001_broken failed/);
      // Nothing of the broken migration stays: it ran in a transaction.
      const left = await session.query(`SELECT to_regclass('ok_one') AS t, (SELECT count(*) FROM "_prisma_migrations" WHERE migration_name LIKE '2999%')::int AS n`);
      expect(left[0]).toEqual({ t: null, n: 0 });
    } finally {
      await session.close();
    }
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('lets exactly one of two concurrent starters apply the migrations (advisory lock)', async () => {
    const other = await freshPostgres();
    const dirs = [mkdtempSync(path.join(tmpdir(), 'relais-a-')), mkdtempSync(path.join(tmpdir(), 'relais-b-'))];
    try {
      const { Client } = (await import('pg')).default;
      const sessions = await Promise.all(
        dirs.map(async () => {
          const c = new Client({ connectionString: other!.url });
          await c.connect();
          return {
            query: async (sql: string, params?: unknown[]) => (await c.query(sql, params)).rows,
            exec: async (sql: string) => void (await c.query(sql)),
            close: () => c.end(),
          };
        }),
      );
      const results = await Promise.all(sessions.map((s) => migrate(s)));
      const counts = results.map((r) => r.applied.length).sort();
      expect(counts).toEqual([0, readMigrations().length]);
      const rows = await sessions[0]!.query('SELECT count(*)::int AS n FROM "_prisma_migrations"');
      expect(rows[0]!.n).toBe(readMigrations().length);
      await Promise.all(sessions.map((s) => s.close()));
    } finally {
      await other?.drop();
      dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
    }
  });

  it('gives every model a working table: one row of each, read back through its relations', async () => {
    const D = (v: string) => new Prisma.Decimal(v);
    const grid = await prisma.pricingGrid.create({ data: { name: 'Premium', isDefault: true, tiers: { create: [{ minCredits: D('100'), rate: D('0.9') }, { minCredits: D('500'), rate: D('0.8') }] } } });
    const user = await prisma.user.create({
      data: { username: 'model-user', email: 'model@example.test', walletAddress: '0x31b6740e0000000000000000000000000000beef', pricingGridId: grid.id, settings: { create: { webhookEvents: { deposit: true } } } },
    });
    const session = await prisma.session.create({ data: { userId: user.id, refreshTokens: { create: { tokenHash: 'h1', expiresAt: new Date(Date.now() + 1000) } } } });
    await prisma.emailToken.create({ data: { userId: user.id, purpose: 'verify_email', tokenHash: 'e1', expiresAt: new Date() } });
    await prisma.siweNonce.create({ data: { nonce: 'n1', address: user.walletAddress!, expiresAt: new Date() } });
    const pool = await prisma.upstreamPool.create({ data: { name: 'eu-shared', product: 'shared' } });
    await prisma.location.create({ data: { id: 'LAX', name: 'Los Angeles', countryCode: 'US' } });
    const upstream = await prisma.upstream.create({ data: { poolId: pool.id, host: '203.0.113.10', port: 1080, countryCode: 'US', locationId: 'LAX' } });
    const key = await prisma.apiKey.create({ data: { userId: user.id, name: 'k', prefix: 'lpf_0000', hash: 'kh', encrypted: 'c', dailyLimit: D('1.5'), scopes: ['proxy'], pinnedUpstreamId: upstream.id } });
    const product = await prisma.product.create({ data: { name: 'Multi Hop Proxy', pricing: { create: { label: '24 Hour', price: D('20'), periodType: 'day', periodDuration: 1 } } }, include: { pricing: true } });
    const order = await prisma.order.create({ data: { userId: user.id, productId: product.id, pricingId: product.pricing[0]!.id, productName: product.name, pricingLabel: '24 Hour', amountUsd: D('20') } });
    await prisma.ledgerTransaction.create({ data: { userId: user.id, type: 'deposit', subtype: 1, subtypeLabel: 'USDT', amount: D('50'), txHash: '0xabc', chainId: 1, currency: 'usdt', status: 'pending', apiKeyId: key.id, orderId: order.id } });
    await prisma.usageBucket.create({ data: { userId: user.id, apiKeyId: key.id, product: 'shared', hour: new Date('2026-03-28T12:00:00Z'), bytesUp: 10n, bytesDown: 20n ** 10n, cost: D('0.000123') } });
    await prisma.trafficPrice.create({ data: { product: 'dedicated', label: 'Dédié', pricePerGb: D('3.5') } });
    await prisma.exchangeRate.create({ data: { currency: 'EUR', rate: D('0.92') } });
    await prisma.proxy.create({ data: { userId: user.id, orderId: order.id, name: '5E9F-2026-03-09', username: 'u', password: 'p', locationId: 'LAX', upstreamId: upstream.id, fingerprint: 'linux' } });
    const endpoint = await prisma.webhookEndpoint.create({ data: { userId: user.id, url: 'https://example.test/hook', secret: 'whsec_x' } });
    await prisma.webhookDelivery.create({ data: { userId: user.id, endpointId: endpoint.id, url: endpoint.url, event: 'order.paid', payload: { id: order.id } } });
    await prisma.outboxJob.create({ data: { kind: 'noop', payload: { a: 1 }, status: 'done' } });

    const full = await prisma.user.findUniqueOrThrow({
      where: { id: user.id },
      include: {
        pricingGrid: { include: { tiers: { orderBy: { minCredits: 'asc' } } } },
        sessions: { include: { refreshTokens: true } },
        emailTokens: true,
        apiKeys: { include: { pinnedExit: { include: { pool: true, location: true } }, usageBuckets: true, transactions: true } },
        settings: true,
        transactions: { include: { order: { include: { product: true, pricing: true, proxies: true } } } },
        proxies: { include: { location: true, upstream: true } },
        webhookEndpoints: { include: { deliveries: true } },
      },
    });
    expect(full.pricingGrid?.tiers.map((t) => t.rate.toString())).toEqual(['0.9', '0.8']);
    expect(full.sessions[0]?.id).toBe(session.id);
    expect(full.sessions[0]?.refreshTokens).toHaveLength(1);
    expect(full.emailTokens).toHaveLength(1);
    expect(full.apiKeys[0]?.pinnedExit?.pool.name).toBe('eu-shared');
    expect(full.apiKeys[0]?.pinnedExit?.location?.name).toBe('Los Angeles');
    expect(full.apiKeys[0]?.usageBuckets[0]?.bytesDown).toBe(20n ** 10n);
    expect(full.apiKeys[0]?.usageBuckets[0]?.cost.toFixed(6)).toBe('0.000123');
    expect(full.apiKeys[0]?.dailyLimit?.toFixed(6)).toBe('1.500000');
    expect(full.settings).toMatchObject({ alertLowBalance: true, webhookEvents: { deposit: true } });
    expect(full.settings?.alertThreshold.toFixed(2)).toBe('50.00');
    expect(full.transactions[0]?.order?.proxies[0]?.fingerprint).toBe('linux');
    expect(full.transactions[0]?.order?.pricing.periodType).toBe('day');
    expect(full.proxies[0]?.upstream?.host).toBe('203.0.113.10');
    expect(full.webhookEndpoints[0]?.deliveries[0]?.event).toBe('order.paid');
    expect(await prisma.siweNonce.count()).toBe(1);
    expect((await prisma.trafficPrice.findUniqueOrThrow({ where: { product: 'dedicated' } })).pricePerGb.toFixed(2)).toBe('3.50');
    expect((await prisma.exchangeRate.findUniqueOrThrow({ where: { currency: 'EUR' } })).rate.toString()).toBe('0.92');
    expect(await prisma.outboxJob.count({ where: { status: 'done' } })).toBe(1);

    // Deposits are idempotent per chain and transaction hash.
    await expect(
      prisma.ledgerTransaction.create({ data: { userId: user.id, type: 'deposit', subtype: 1, subtypeLabel: 'USDT', amount: D('50'), txHash: '0xabc', chainId: 1 } }),
    ).rejects.toMatchObject({ code: 'P2002' });
    // Deleting the user cascades to what it owns.
    await prisma.user.delete({ where: { id: user.id } });
    expect(await prisma.apiKey.count({ where: { id: key.id } })).toBe(0);
  });
});
