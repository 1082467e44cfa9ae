import { queryFromInfo } from '@pothos/plugin-prisma';
import { z } from 'zod';
import { builder } from '../../graphql/builder.js';
import { toDbId } from '../../graphql/ids.js';
import { viewerOf } from '../../graphql/viewer.js';
import { InsufficientBalanceError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { TransactionStatus, TransactionType } from '../../generated/prisma/enums.js';
import type { LedgerTransaction } from '../../generated/prisma/client.js';
import * as ledger from './ledger.service.js';

const TransactionTypeEnum = builder.enumType(TransactionType, { name: 'TransactionType' });
export const TransactionStatusEnum = builder.enumType(TransactionStatus, { name: 'TransactionStatus' });

export const LedgerTransactionType = builder.prismaObject('LedgerTransaction', {
  name: 'Transaction',
  description: 'One balance change. The balance is the sum of confirmed transactions.',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.expose('type', { type: TransactionTypeEnum }),
    subtype: t.exposeInt('subtype'),
    subtypeLabel: t.exposeString('subtypeLabel'),
    amount: t.expose('amount', { type: 'Money', description: 'Signed: credits are positive, debits negative.' }),
    balanceAfter: t.expose('balanceAfter', { type: 'Money', nullable: true }),
    apiKeyId: t.exposeID('apiKeyId', { nullable: true }),
    apiKeyName: t.string({
      nullable: true,
      select: { apiKey: { select: { name: true } } },
      resolve: (tx) => tx.apiKey?.name ?? null,
    }),
    note: t.exposeString('note', { nullable: true }),
    txHash: t.exposeString('txHash', { nullable: true }),
    chainId: t.exposeInt('chainId', { nullable: true }),
    currency: t.exposeString('currency', { nullable: true }),
    status: t.expose('status', { type: TransactionStatusEnum }),
    confirmations: t.exposeInt('confirmations'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.mutationField('adjustBalance', (t) =>
  t.prismaField({
    type: LedgerTransactionType,
    description: "Admin: credit (positive amount) or debit (negative) a user's balance, with a note, as an `adjustment` transaction.",
    authScopes: { admin: true },
    errors: { types: [ValidationError, NotFoundError, InsufficientBalanceError] },
    args: {
      userId: t.arg.id({ required: true }),
      amount: t.arg({ type: 'Money', required: true }),
      note: t.arg.string({ required: true }),
    },
    resolve: (_query, _root, args, ctx) =>
      ledger.adjustBalance({ userId: toDbId(args.userId, 'userId'), amount: args.amount, note: args.note, actorId: ctx.viewer!.userId }),
  }),
);

const SubtypeSummaryType = builder.objectRef<ledger.SubtypeSummary>('SubtypeSummary').implement({
  fields: (t) => ({
    subtype: t.exposeInt('subtype'),
    label: t.exposeString('label'),
    total: t.expose('total', { type: 'Money' }),
    count: t.exposeInt('count'),
  }),
});

const TypeSummaryType = builder.objectRef<ledger.TypeSummary>('TransactionTypeSummary').implement({
  description: 'Confirmed transactions of one type: their signed sum, how many, and the same per subtype.',
  fields: (t) => ({
    total: t.expose('total', { type: 'Money' }),
    count: t.exposeInt('count'),
    bySubtype: t.field({ type: [SubtypeSummaryType], description: 'Subtypes that have transactions, by subtype number.', resolve: (s) => s.bySubtype }),
  }),
});

const TransactionSummaryType = builder.objectRef<ledger.BalanceSummary['summary']>('TransactionSummary').implement({
  fields: (t) => ({
    deposit: t.field({ type: TypeSummaryType, resolve: (s) => s.deposit }),
    consumption: t.field({ type: TypeSummaryType, resolve: (s) => s.consumption }),
    adjustment: t.field({ type: TypeSummaryType, resolve: (s) => s.adjustment }),
  }),
});

const BalanceSummaryType = builder.objectRef<ledger.BalanceSummary>('BalanceSummary').implement({
  fields: (t) => ({
    balance: t.expose('balance', { type: 'Money' }),
    summary: t.field({ type: TransactionSummaryType, resolve: (s) => s.summary }),
  }),
});

const TransactionPageType = builder.objectRef<ledger.TransactionPage<LedgerTransaction>>('TransactionPage').implement({
  fields: (t) => ({
    items: t.field({ type: [LedgerTransactionType], description: 'Newest first.', resolve: (p) => p.items }),
    total: t.exposeInt('total', { description: 'Transactions matching the filters, over all pages.' }),
    page: t.exposeInt('page'),
    limit: t.exposeInt('limit'),
  }),
});

const pageMessage = 'page must be 1 or more.';
const limitMessage = `limit must be between 1 and ${ledger.TRANSACTIONS_MAX_PAGE_SIZE}.`;

builder.queryFields((t) => ({
  balanceSummary: t.field({
    type: BalanceSummaryType,
    description: 'The balance, and confirmed transactions summed per type and subtype.',
    authScopes: { scope: 'billing' },
    resolve: (_root, _args, ctx) => ledger.balanceSummary(viewerOf(ctx).userId),
  }),
  transactions: t.field({
    type: TransactionPageType,
    description:
      "The caller's transactions, newest first, a page at a time. Filters combine; a key id that is not the caller's matches nothing. Bad arguments are errors with extensions.code BAD_USER_INPUT and extensions.field.",
    authScopes: { scope: 'billing' },
    args: {
      page: t.arg.int({ defaultValue: 1, validate: z.number().int(pageMessage).min(1, pageMessage).nullish() }),
      limit: t.arg.int({
        defaultValue: 20,
        description: `1 to ${ledger.TRANSACTIONS_MAX_PAGE_SIZE}.`,
        validate: z.number().int(limitMessage).min(1, limitMessage).max(ledger.TRANSACTIONS_MAX_PAGE_SIZE, limitMessage).nullish(),
      }),
      type: t.arg({ type: TransactionTypeEnum }),
      subtype: t.arg.int(),
      apiKeyId: t.arg.id(),
    },
    resolve: (_root, args, ctx, info) =>
      ledger.listTransactions(
        viewerOf(ctx).userId,
        { type: args.type, subtype: args.subtype, apiKeyId: args.apiKeyId === null || args.apiKeyId === undefined ? null : toDbId(args.apiKeyId, 'apiKeyId') },
        { page: args.page ?? 1, limit: args.limit ?? 20 },
        // The rows carry what the selected Transaction fields need (the key's name), so no query per row.
        queryFromInfo({ context: ctx, info, typeName: 'Transaction', path: ['items'] }),
      ),
  }),
}));
