import { builder } from '../../graphql/builder.js';
import { toDbId } from '../../graphql/ids.js';
import { viewerOf } from '../../graphql/viewer.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import { TrafficProduct } from '../../generated/prisma/enums.js';
import type { TrafficPrice } from '../../generated/prisma/client.js';
import * as pricing from './pricing.service.js';

const TrafficProductEnum = builder.enumType(TrafficProduct, {
  name: 'TrafficProduct',
  description: 'shared: the shared pool (mutualisé); dedicated: dedicated IPs (dédié); browser: remote browsers (navigateur).',
});

const TrafficPriceType = builder.objectRef<TrafficPrice>('TrafficPrice').implement({
  description: 'The list price of a traffic product, per GB (10^9 bytes, up and down counted).',
  fields: (t) => ({
    product: t.expose('product', { type: TrafficProductEnum }),
    label: t.exposeString('label'),
    pricePerGb: t.expose('pricePerGb', { type: 'Money' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const PricingTierType = builder.objectRef<pricing.Tier>('PricingTier').implement({
  description: 'From `minCredits` credits bought, list prices are multiplied by `rate`.',
  fields: (t) => ({
    minCredits: t.expose('minCredits', { type: 'Money' }),
    rate: t.expose('rate', { type: 'Money', description: 'A multiplier (0.9 = 10% off), six decimals like Money.' }),
  }),
});

const PricingType = builder.objectRef<pricing.UserPricing>('Pricing').implement({
  description: "The caller's pricing: a grid of tiers, the rate that applies now, and the list prices it multiplies.",
  fields: (t) => ({
    grid: t.exposeString('grid'),
    rate: t.expose('rate', { type: 'Money', description: 'The multiplier applied to list prices now.' }),
    credits: t.expose('credits', { type: 'Money', description: 'Credits bought so far (confirmed deposits and administrator credits): what tiers compare with.' }),
    tiers: t.field({ type: [PricingTierType], description: 'Lowest threshold first.', resolve: (p) => p.tiers }),
    prices: t.field({ type: [TrafficPriceType], resolve: () => pricing.listTrafficPrices() }),
  }),
});

type GridWithTiers = Awaited<ReturnType<typeof pricing.listPricingGrids>>[number];

const PricingGridType = builder.objectRef<GridWithTiers>('PricingGrid').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    isDefault: t.exposeBoolean('isDefault', { description: 'The grid of users who were not assigned one.' }),
    tiers: t.field({ type: [PricingTierType], description: 'Lowest threshold first.', resolve: (g) => g.tiers }),
  }),
});

const PricingTierInput = builder.inputType('PricingTierInput', {
  fields: (t) => ({
    minCredits: t.field({ type: 'Money', required: true }),
    rate: t.field({ type: 'Money', required: true, description: 'A multiplier between 0 and 10.' }),
  }),
});

builder.queryFields((t) => ({
  pricing: t.field({
    type: PricingType,
    authScopes: { scope: 'billing' },
    resolve: (_root, _args, ctx) => pricing.pricingFor(viewerOf(ctx).userId),
  }),
  pricingGrids: t.field({
    type: [PricingGridType],
    description: 'Admin: every pricing grid with its tiers.',
    authScopes: { admin: true },
    resolve: () => pricing.listPricingGrids(),
  }),
}));

builder.mutationFields((t) => ({
  setTrafficPrice: t.field({
    type: TrafficPriceType,
    description: "Admin: sets a product's list price per GB.",
    authScopes: { admin: true },
    errors: { types: [ValidationError] },
    args: { product: t.arg({ type: TrafficProductEnum, required: true }), pricePerGb: t.arg({ type: 'Money', required: true }) },
    resolve: (_root, args) => pricing.setTrafficPrice(args.product, args.pricePerGb),
  }),
  setPricingTiers: t.field({
    type: PricingGridType,
    description: 'Admin: replaces the tiers of a grid, creating the grid when new.',
    authScopes: { admin: true },
    errors: { types: [ValidationError] },
    args: { grid: t.arg.string({ required: true }), tiers: t.arg({ type: [PricingTierInput], required: true }) },
    resolve: (_root, args) => pricing.setPricingTiers(args.grid, args.tiers),
  }),
  assignPricingGrid: t.field({
    type: PricingType,
    description: "Admin: puts a user on a grid; returns the user's pricing under it.",
    authScopes: { admin: true },
    errors: { types: [ValidationError, NotFoundError] },
    args: { userId: t.arg.id({ required: true }), grid: t.arg.string({ required: true }) },
    resolve: (_root, args) => pricing.assignPricingGrid(toDbId(args.userId, 'userId'), args.grid),
  }),
}));
