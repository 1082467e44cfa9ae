import { prisma, Prisma } from '../../db.js';
import type { TrafficProduct } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import { Decimal, MONEY_MAX, type Money } from '../../lib/money.js';

/** List prices per GB (10^9 bytes, both directions counted) seeded on first start. */
export const DEFAULT_PRICES: Record<TrafficProduct, { label: string; pricePerGb: string }> = {
  shared: { label: 'Mutualisé', pricePerGb: '2.50' },
  dedicated: { label: 'Dédié', pricePerGb: '5.00' },
  browser: { label: 'Navigateur', pricePerGb: '4.00' },
};

export const DEFAULT_GRID = {
  name: 'Standard',
  tiers: [
    { minCredits: '0', rate: '1' },
    { minCredits: '100', rate: '0.9' },
    { minCredits: '500', rate: '0.8' },
    { minCredits: '2000', rate: '0.7' },
  ],
};

export const BYTES_PER_GB = 1_000_000_000n;

export interface Tier {
  minCredits: Money;
  rate: Money;
}

export interface UserPricing {
  grid: string;
  tiers: Tier[];
  /** The multiplier applied to list prices for this user now. */
  rate: Money;
  /** What `min_credits` is compared with: credits the user has bought (confirmed deposits and admin credits, lifetime). */
  credits: Money;
}

/** Seeds default prices and the default grid when missing; never overwrites an admin's edits. */
export async function seedPricing(): Promise<void> {
  await prisma.trafficPrice.createMany({
    data: Object.entries(DEFAULT_PRICES).map(([product, p]) => ({ product: product as TrafficProduct, label: p.label, pricePerGb: new Decimal(p.pricePerGb) })),
    skipDuplicates: true,
  });
  if (!(await prisma.pricingGrid.findFirst({ where: { isDefault: true } }))) {
    await prisma.pricingGrid.upsert({
      where: { name: DEFAULT_GRID.name },
      update: { isDefault: true },
      create: {
        name: DEFAULT_GRID.name,
        isDefault: true,
        tiers: { create: DEFAULT_GRID.tiers.map((t) => ({ minCredits: new Decimal(t.minCredits), rate: new Decimal(t.rate) })) },
      },
    }).catch((err: unknown) => {
      // Another instance starting at the same moment created it first.
      if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
    });
  }
}

export async function listTrafficPrices() {
  return prisma.trafficPrice.findMany({ orderBy: { product: 'asc' } });
}

export async function setTrafficPrice(product: TrafficProduct, pricePerGb: Money) {
  if (pricePerGb.isNegative() || pricePerGb.gt(MONEY_MAX)) throw new ValidationError('pricePerGb', 'pricePerGb must be a non-negative amount.');
  const row = await prisma.trafficPrice.update({ where: { product }, data: { pricePerGb } });
  void bus.publish('pricing:changed', { userId: null });
  return row;
}

const withTiers = { tiers: { orderBy: { minCredits: 'asc' } } } satisfies Prisma.PricingGridInclude;

/** Every grid with its tiers (lowest threshold first), by name. */
export async function listPricingGrids() {
  return prisma.pricingGrid.findMany({ include: withTiers, orderBy: { name: 'asc' } });
}

/** Replaces the tiers of a grid (created when new). Rates are multipliers between 0 and 10. */
export async function setPricingTiers(gridName: string, tiers: Tier[]) {
  const name = gridName.trim();
  if (!name || name.length > 64) throw new ValidationError('grid', 'grid name must be 1 to 64 characters.');
  if (!tiers.length) throw new ValidationError('tiers', 'at least one tier is required.');
  const seen = new Set<string>();
  for (const t of tiers) {
    if (t.minCredits.isNegative() || t.minCredits.gt(MONEY_MAX)) throw new ValidationError('minCredits', 'minCredits must be a non-negative amount.');
    if (t.rate.isNegative() || t.rate.gt(10)) throw new ValidationError('rate', 'rate must be between 0 and 10.');
    if (seen.has(t.minCredits.toFixed(6))) throw new ValidationError('minCredits', 'each tier needs its own minCredits.');
    seen.add(t.minCredits.toFixed(6));
  }
  const grid = await prisma.$transaction(async (tx) => {
    const grid = await tx.pricingGrid.upsert({ where: { name }, update: {}, create: { name } });
    await tx.pricingTier.deleteMany({ where: { gridId: grid.id } });
    await tx.pricingTier.createMany({ data: tiers.map((t) => ({ gridId: grid.id, minCredits: t.minCredits, rate: t.rate })) });
    return tx.pricingGrid.findUniqueOrThrow({ where: { id: grid.id }, include: withTiers });
  });
  void bus.publish('pricing:changed', { userId: null });
  return grid;
}

/** Puts a user on a grid by name; returns the user's pricing under it. */
export async function assignPricingGrid(userId: number, gridName: string): Promise<UserPricing> {
  const grid = await prisma.pricingGrid.findUnique({ where: { name: gridName.trim() } });
  if (!grid) throw new NotFoundError('Pricing grid');
  const updated = await prisma.user.updateMany({ where: { id: userId }, data: { pricingGridId: grid.id } });
  if (updated.count !== 1) throw new NotFoundError('User');
  void bus.publish('pricing:changed', { userId });
  return pricingFor(userId);
}

/** Credits a user has bought: confirmed deposits plus administrators' credits, over the account's life. */
async function creditsBought(userId: number, tx: Prisma.TransactionClient = prisma): Promise<Money> {
  const agg = await tx.ledgerTransaction.aggregate({
    where: { userId, status: 'confirmed', OR: [{ type: 'deposit' }, { type: 'adjustment', amount: { gt: 0 } }] },
    _sum: { amount: true },
  });
  return agg._sum.amount ?? new Decimal(0);
}

export function rateFor(tiers: Tier[], credits: Money): Money {
  let rate = new Decimal(1);
  let best: Money | null = null;
  for (const t of tiers) {
    if (t.minCredits.lte(credits) && (best === null || t.minCredits.gt(best))) {
      best = t.minCredits;
      rate = t.rate;
    }
  }
  return rate;
}

export async function pricingFor(userId: number): Promise<UserPricing> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { pricingGrid: { include: { tiers: true } } } });
  if (!user) throw new NotFoundError('User');
  const grid = user.pricingGrid ?? (await prisma.pricingGrid.findFirst({ where: { isDefault: true }, include: { tiers: true } }));
  const tiers = (grid?.tiers ?? []).map((t) => ({ minCredits: t.minCredits, rate: t.rate })).sort((a, b) => a.minCredits.cmp(b.minCredits));
  const credits = await creditsBought(userId);
  return { grid: grid?.name ?? 'Standard', tiers, rate: rateFor(tiers, credits), credits };
}
