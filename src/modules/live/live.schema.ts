import { prisma } from '../../db.js';
import type {
  BalanceChangedEvent,
  BusChannels,
  DepositStatusEvent,
  KeyChangedEvent,
  OrderStatusEvent,
  ProxyStatusEvent,
  UsageUpdatedEvent,
} from '../../bus.js';
import { builder } from '../../graphql/builder.js';
import type { Context } from '../../graphql/context.js';
import { toDbId } from '../../graphql/ids.js';
import { viewerOf } from '../../graphql/viewer.js';
import { ApiKeyType } from '../keys/keys.schema.js';
import { LedgerTransactionType, TransactionStatusEnum } from '../ledger/ledger.schema.js';
import { liveEvents, subscriptionTarget } from './live.service.js';

/**
 * Every subscriber of an event gets the same payload object from the bus, so what it refers to
 * is loaded once per event and selection, not once per subscriber.
 */
const loads = new WeakMap<object, Map<string, Promise<unknown>>>();
function loadOnce<T>(event: object, query: object, load: () => Promise<T>): Promise<T> {
  let byQuery = loads.get(event);
  if (!byQuery) loads.set(event, (byQuery = new Map()));
  const key = JSON.stringify(query);
  let loading = byQuery.get(key) as Promise<T> | undefined;
  if (!loading) byQuery.set(key, (loading = load()));
  return loading;
}

const BalanceChange = builder.objectRef<BalanceChangedEvent>('BalanceChange').implement({
  description: 'A balance moved: its new value and the ledger row that moved it.',
  fields: (t) => ({
    userId: t.exposeID('userId'),
    balance: t.expose('balance', { type: 'Money' }),
    transaction: t.prismaField({
      type: LedgerTransactionType,
      resolve: (query, e) => loadOnce(e, query, () => prisma.ledgerTransaction.findUniqueOrThrow({ ...query, where: { id: e.transactionId } })),
    }),
  }),
});

const UsageUpdate = builder.objectRef<UsageUpdatedEvent>('UsageUpdate').implement({
  description:
    'Traffic of one key on one product written by the meter since the previous update: at most one update a second per key while traffic flows.',
  fields: (t) => ({
    userId: t.exposeID('userId'),
    apiKeyId: t.exposeID('apiKeyId'),
    product: t.exposeString('product', { description: 'The SOCKS5 product: shared or dedicated.' }),
    bytesIn: t.field({ type: 'BigInt', description: 'From the destination to the client.', resolve: (u) => BigInt(u.bytesIn) }),
    bytesOut: t.field({ type: 'BigInt', description: 'From the client to the destination.', resolve: (u) => BigInt(u.bytesOut) }),
    bytes: t.field({ type: 'BigInt', description: 'bytesIn + bytesOut.', resolve: (u) => BigInt(u.bytesIn) + BigInt(u.bytesOut) }),
    cost: t.expose('cost', { type: 'Money', description: 'Charged for these bytes.' }),
    remainingCredit: t.expose('remainingCredit', {
      type: 'Money',
      description: "What the key may still spend now: the lowest of the balance and what is left under the account's and the key's limits.",
    }),
    at: t.field({ type: 'DateTime', description: 'When the bytes were measured.', resolve: (u) => new Date(u.at) }),
  }),
});

const KeyChangeKind = builder.enumType('KeyChangeKind', { values: ['created', 'updated', 'revoked', 'regenerated'] as const });

const KeyChange = builder.objectRef<KeyChangedEvent>('KeyChange').implement({
  fields: (t) => ({
    change: t.expose('change', { type: KeyChangeKind }),
    apiKeyId: t.exposeID('apiKeyId'),
    userId: t.exposeID('userId'),
    apiKey: t.prismaField({
      type: ApiKeyType,
      nullable: true,
      description: 'The key as it is now (revoked keys included); null if it cannot be loaded.',
      resolve: (query, e) => loadOnce(e, query, () => prisma.apiKey.findFirst({ ...query, where: { id: e.apiKeyId, userId: e.userId, kind: 'proxy' } })),
    }),
  }),
});

const ProxyStatusChange = builder.objectRef<ProxyStatusEvent>('ProxyStatusChange').implement({
  fields: (t) => ({
    proxyId: t.exposeID('proxyId'),
    userId: t.exposeID('userId'),
    status: t.exposeString('status'),
    previousStatus: t.exposeString('previousStatus', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
  }),
});

const OrderStatusChange = builder.objectRef<OrderStatusEvent>('OrderStatusChange').implement({
  fields: (t) => ({
    orderId: t.exposeID('orderId'),
    userId: t.exposeID('userId'),
    status: t.exposeString('status'),
    previousStatus: t.exposeString('previousStatus', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
  }),
});

const DepositStatusChange = builder.objectRef<DepositStatusEvent>('DepositStatusChange').implement({
  fields: (t) => ({
    transactionId: t.exposeID('transactionId'),
    userId: t.exposeID('userId'),
    status: t.expose('status', { type: TransactionStatusEnum }),
    confirmations: t.exposeInt('confirmations'),
    txHash: t.exposeString('txHash', { nullable: true }),
    chainId: t.exposeInt('chainId', { nullable: true }),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
  }),
});

const userIdDescription = "Another account's events: administrators only (others get FORBIDDEN). Omitted: the caller's own.";

/** The events of `channel` for the account the caller may watch, ending with the caller's credential. */
type AccountChannel = 'balance:changed' | 'usage:updated' | 'key:changed' | 'proxy:status' | 'order:status' | 'deposit:status';

async function accountEvents<C extends AccountChannel>(
  ctx: Context,
  userIdArg: string | null | undefined,
  channel: C,
  keep: (e: BusChannels[C][0]) => boolean = () => true,
): Promise<AsyncIterable<BusChannels[C][0]>> {
  const viewer = viewerOf(ctx);
  const userId = await subscriptionTarget(viewer, userIdArg == null ? null : toDbId(userIdArg, 'userId'));
  return liveEvents(viewer, ctx.credentialEnded, channel, userId, keep);
}

builder.subscriptionFields((t) => ({
  balanceChanged: t.field({
    type: BalanceChange,
    description: 'Every balance change of the account (traffic charges, credits, deposits), after it is committed.',
    authScopes: { scope: 'billing' },
    args: { userId: t.arg.id({ description: userIdDescription }) },
    subscribe: (_root, args, ctx) => accountEvents(ctx, args.userId, 'balance:changed'),
    resolve: (e) => e,
  }),
  usageUpdated: t.field({
    type: UsageUpdate,
    description: "The account's traffic per key and product as the meter writes it. `apiKeyId` narrows to one key (another account's key matches nothing).",
    authScopes: { scope: 'proxy' },
    args: { userId: t.arg.id({ description: userIdDescription }), apiKeyId: t.arg.id() },
    subscribe: (_root, args, ctx) => {
      const apiKeyId = args.apiKeyId == null ? null : toDbId(args.apiKeyId, 'apiKeyId');
      return accountEvents(ctx, args.userId, 'usage:updated', (e) => apiKeyId === null || e.apiKeyId === apiKeyId);
    },
    resolve: (e) => e,
  }),
  keyChanged: t.field({
    type: KeyChange,
    description: "The account's API keys being created, updated, revoked or regenerated.",
    authScopes: { scope: 'keys' },
    args: { userId: t.arg.id({ description: userIdDescription }) },
    subscribe: (_root, args, ctx) => accountEvents(ctx, args.userId, 'key:changed'),
    resolve: (e) => e,
  }),
  proxyStatusChanged: t.field({
    type: ProxyStatusChange,
    authScopes: { scope: 'proxy' },
    args: { userId: t.arg.id({ description: userIdDescription }) },
    subscribe: (_root, args, ctx) => accountEvents(ctx, args.userId, 'proxy:status'),
    resolve: (e) => e,
  }),
  orderStatusChanged: t.field({
    type: OrderStatusChange,
    authScopes: { scope: 'billing' },
    args: { userId: t.arg.id({ description: userIdDescription }) },
    subscribe: (_root, args, ctx) => accountEvents(ctx, args.userId, 'order:status'),
    resolve: (e) => e,
  }),
  depositStatusChanged: t.field({
    type: DepositStatusChange,
    description: "The account's crypto deposits being seen, confirmed or failing.",
    authScopes: { scope: 'billing' },
    args: { userId: t.arg.id({ description: userIdDescription }) },
    subscribe: (_root, args, ctx) => accountEvents(ctx, args.userId, 'deposit:status'),
    resolve: (e) => e,
  }),
}));
