import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { adminUser, uniqueName, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { AdjustBalance, AssignPricingGrid, Pricing, PricingGrids, SetPricingTiers, SetTrafficPrice } from './helpers/operations.js';
import type { SetPricingTiersMutationVariables } from '../src/generated/graphql/graphql.js';
import { prisma, Prisma } from '../src/db.js';
import { applyEntry } from '../src/modules/ledger/ledger.service.js';

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

const as = (user: TestUser) => ({ token: user.accessToken });
const pricingOf = async (user: TestUser) => (await server.ok(Pricing, {}, as(user))).pricing;
const adjust = (user: TestUser, amount: string) => server.ok(AdjustBalance, { userId: user.id, amount, note: 'pricing test' }, as(admin));

describe('pricing', () => {
  it('shows the default grid, its tiers and the list prices to a new account', async () => {
    expect(await pricingOf(alice)).toEqual({
      grid: 'Standard',
      rate: '1.000000',
      credits: '0.000000',
      tiers: [
        { minCredits: '0.000000', rate: '1.000000' },
        { minCredits: '100.000000', rate: '0.900000' },
        { minCredits: '500.000000', rate: '0.800000' },
        { minCredits: '2000.000000', rate: '0.700000' },
      ],
      prices: [
        { product: 'shared', label: 'Mutualisé', pricePerGb: '2.500000' },
        { product: 'dedicated', label: 'Dédié', pricePerGb: '5.000000' },
        { product: 'browser', label: 'Navigateur', pricePerGb: '4.000000' },
      ],
    });
  });

  it('lowers the rate when credits bought cross a tier, counting admin credits and confirmed deposits only', async () => {
    const user = await verifiedUser(server, smtp);
    await adjust(user, '99.999999');
    expect(await pricingOf(user)).toMatchObject({ rate: '1.000000', credits: '99.999999' });
    await adjust(user, '0.000001');
    expect(await pricingOf(user)).toMatchObject({ rate: '0.900000', credits: '100.000000' });
    await adjust(user, '-50'); // spending or debits do not undo what was bought
    expect(await pricingOf(user)).toMatchObject({ rate: '0.900000', credits: '100.000000' });
    await prisma.ledgerTransaction.create({
      data: { userId: Number(user.id), type: 'deposit', subtype: 1, subtypeLabel: 'USDT', amount: new Prisma.Decimal(1000), status: 'pending', txHash: '0xpending', chainId: 1 },
    });
    expect(await pricingOf(user)).toMatchObject({ rate: '0.900000' });
    await prisma.$transaction((tx) => applyEntry(tx, { userId: Number(user.id), subtype: 'deposit_usdc', amount: new Prisma.Decimal(400) }));
    expect(await pricingOf(user)).toMatchObject({ grid: 'Standard', rate: '0.800000', credits: '500.000000' });
  });

  it("lets an admin set list prices, replace a grid's tiers and assign a grid", async () => {
    const price = await server.ok(SetTrafficPrice, { product: 'dedicated', pricePerGb: '5.125' }, as(admin));
    expect(price.setTrafficPrice).toEqual({ __typename: 'MutationSetTrafficPriceSuccess', data: { product: 'dedicated', label: 'Dédié', pricePerGb: '5.125000' } });
    expect((await pricingOf(alice)).prices.find((p) => p.product === 'dedicated')?.pricePerGb).toBe('5.125000');

    const grid = uniqueName('Premium');
    await server.ok(SetPricingTiers, { grid, tiers: [{ minCredits: '0', rate: '1' }] }, as(admin));
    const tiers = await server.ok(SetPricingTiers, { grid, tiers: [{ minCredits: '50', rate: '0.5' }, { minCredits: '0', rate: '0.95' }] }, as(admin));
    expect(tiers.setPricingTiers).toEqual({
      __typename: 'MutationSetPricingTiersSuccess',
      data: { name: grid, isDefault: false, tiers: [{ minCredits: '0.000000', rate: '0.950000' }, { minCredits: '50.000000', rate: '0.500000' }] },
    });
    const grids = (await server.ok(PricingGrids, {}, as(admin))).pricingGrids;
    expect(grids.map((g) => [g.name, g.isDefault])).toEqual(expect.arrayContaining([['Standard', true], [grid, false]]));

    const user = await verifiedUser(server, smtp);
    await adjust(user, '60');
    const assigned = await server.ok(AssignPricingGrid, { userId: user.id, grid }, as(admin));
    expect(assigned.assignPricingGrid).toEqual({ __typename: 'MutationAssignPricingGridSuccess', data: { grid, rate: '0.500000', credits: '60.000000' } });
    expect(await pricingOf(user)).toMatchObject({ grid, rate: '0.500000', tiers: [{ minCredits: '0.000000', rate: '0.950000' }, { minCredits: '50.000000', rate: '0.500000' }] });
    expect((await pricingOf(alice)).grid).toBe('Standard');
    await server.ok(SetTrafficPrice, { product: 'dedicated', pricePerGb: '5' }, as(admin));
  });

  it('refuses bad prices, tiers and grids, naming the field and changing nothing', async () => {
    const before = await pricingOf(alice);
    const negative = await server.ok(SetTrafficPrice, { product: 'shared', pricePerGb: '-1' }, as(admin));
    expect(negative.setTrafficPrice).toMatchObject({ __typename: 'ValidationError', field: 'pricePerGb' });
    const cases: [SetPricingTiersMutationVariables, string][] = [
      [{ grid: 'Standard', tiers: [] }, 'tiers'],
      [{ grid: '   ', tiers: [{ minCredits: '0', rate: '1' }] }, 'grid'],
      [{ grid: 'Standard', tiers: [{ minCredits: '0', rate: '10.5' }] }, 'rate'],
      [{ grid: 'Standard', tiers: [{ minCredits: '-1', rate: '1' }] }, 'minCredits'],
      [{ grid: 'Standard', tiers: [{ minCredits: '10', rate: '1' }, { minCredits: '10.000000', rate: '0.5' }] }, 'minCredits'],
    ];
    for (const [vars, field] of cases) {
      expect((await server.ok(SetPricingTiers, vars, as(admin))).setPricingTiers).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect((await server.ok(AssignPricingGrid, { userId: alice.id, grid: 'No such grid' }, as(admin))).assignPricingGrid).toMatchObject({
      __typename: 'NotFoundError',
      message: 'Pricing grid not found.',
    });
    expect((await server.ok(AssignPricingGrid, { userId: '2147483000', grid: 'Standard' }, as(admin))).assignPricingGrid).toMatchObject({
      __typename: 'NotFoundError',
      message: 'User not found.',
    });
    expect(await pricingOf(alice)).toEqual(before);
  });

  it('refuses every pricing administration to a normal user', async () => {
    const before = await pricingOf(alice);
    const attempts = [
      server.gql(SetTrafficPrice, { product: 'shared', pricePerGb: '0' }, as(alice)),
      server.gql(SetPricingTiers, { grid: 'Standard', tiers: [{ minCredits: '0', rate: '0' }] }, as(alice)),
      server.gql(AssignPricingGrid, { userId: alice.id, grid: 'Standard' }, as(alice)),
      server.gql(PricingGrids, {}, as(alice)),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(res.data).toBeNull();
    }
    expect(await pricingOf(alice)).toEqual(before);
  });
});
