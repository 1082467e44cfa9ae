import { builder } from '../../graphql/builder.js';
import { toDbId } from '../../graphql/ids.js';
import { InsufficientBalanceError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { TransactionStatus, TransactionType } from '../../generated/prisma/enums.js';
import * as ledger from './ledger.service.js';

const TransactionTypeEnum = builder.enumType(TransactionType, { name: 'TransactionType' });
const TransactionStatusEnum = builder.enumType(TransactionStatus, { name: 'TransactionStatus' });

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
