import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import { ConflictError, NotAvailableYetError, ValidationError } from '../../lib/errors.js';
import { LedgerTransactionType } from '../ledger/ledger.schema.js';
import * as deposits from './deposits.service.js';

const SubmitDepositInput = builder.inputType('SubmitDepositInput', {
  fields: (t) => ({
    txHash: t.string({ required: true }),
    currency: t.string({ description: `${deposits.DEPOSIT_CURRENCIES.join(' | ')}; default usdt.` }),
    chainId: t.int({
      description: `${Object.entries(deposits.DEPOSIT_CHAINS).map(([id, name]) => `${id}=${name}`).join(', ')}; default 1.`,
    }),
  }),
});

builder.mutationField('submitDeposit', (t) =>
  t.field({
    type: LedgerTransactionType,
    description: 'Submits an on-chain payment; the amount is read on-chain and credited once confirmed (a pending deposit transaction until then). Not available yet (NOT_AVAILABLE_YET).',
    authScopes: { scope: 'billing' },
    errors: { types: [ValidationError, ConflictError, NotAvailableYetError] },
    args: { input: t.arg({ type: SubmitDepositInput, required: true }) },
    resolve: (_root, { input }, ctx) => deposits.submitDeposit(viewerOf(ctx).userId, input),
  }),
);
