import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import { AuthError, ConflictError, NotAvailableYetError, ValidationError } from '../../lib/errors.js';
import { AuthPayload, UserType } from '../accounts/accounts.schema.js';
import * as wallet from './wallet.service.js';

const WalletNonceType = builder.objectRef<wallet.WalletNonce>('WalletNonce').implement({
  description: 'A single-use nonce and the SIWE message to sign with it.',
  fields: (t) => ({
    message: t.exposeString('message'),
    nonce: t.exposeString('nonce'),
  }),
});

const WalletLinkType = builder.objectRef<wallet.WalletLink>('WalletLink').implement({
  fields: (t) => ({
    merged: t.exposeBoolean('merged', { description: 'Whether an account of that wallet was merged into the caller’s.' }),
    user: t.field({ type: UserType, resolve: (l) => l.user }),
  }),
});

builder.mutationFields((t) => ({
  walletNonce: t.field({
    type: WalletNonceType,
    description: 'Starts a wallet sign-in: a nonce for `address`. Not available yet (NOT_AVAILABLE_YET).',
    skipTypeScopes: true,
    errors: { types: [ValidationError, NotAvailableYetError] },
    args: { address: t.arg.string({ required: true }) },
    resolve: (_root, { address }) => wallet.createNonce(address),
  }),
  walletLogin: t.field({
    type: AuthPayload,
    description: 'Signs in (or up) with a signed SIWE message. Not available yet (NOT_AVAILABLE_YET).',
    skipTypeScopes: true,
    errors: { types: [ValidationError, AuthError, NotAvailableYetError] },
    args: {
      address: t.arg.string({ required: true }),
      signature: t.arg.string({ required: true }),
      message: t.arg.string({ required: true }),
    },
    resolve: (_root, args, ctx) => wallet.walletLogin(args, { ip: ctx.request.ip, userAgent: ctx.request.userAgent }),
  }),
  linkWallet: t.field({
    type: WalletLinkType,
    description: "Links a wallet to the caller's account. Not available yet (NOT_AVAILABLE_YET).",
    authScopes: { scope: 'account' },
    errors: { types: [ValidationError, AuthError, ConflictError, NotAvailableYetError] },
    args: { address: t.arg.string({ required: true }), signature: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => wallet.linkWallet(viewerOf(ctx).userId, args),
  }),
  unlinkWallet: t.field({
    type: UserType,
    description: "Removes the wallet from the caller's account. Not available yet (NOT_AVAILABLE_YET).",
    authScopes: { scope: 'account' },
    errors: { types: [ConflictError, NotAvailableYetError] },
    resolve: (_root, _args, ctx) => wallet.unlinkWallet(viewerOf(ctx).userId),
  }),
}));
