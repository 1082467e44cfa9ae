import type { User } from '../../generated/prisma/client.js';
import { NotAvailableYetError, ValidationError } from '../../lib/errors.js';
import type { IssuedTokens, SessionMeta } from '../accounts/accounts.service.js';

/**
 * Ethereum wallet sign-in (SIWE, EIP-4361) and wallet linking. The API is defined now so every
 * door routes to it; the checks and sessions arrive with the wallet issue, and until then each
 * call refuses with NOT_AVAILABLE_YET after validating its input.
 */
const FEATURE = 'Wallet sign-in (SIWE)';
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

function checkAddress(address: string): string {
  if (!ADDRESS.test(address.trim())) throw new ValidationError('address', 'address must be an Ethereum address (0x followed by 40 hex digits).');
  return address.trim();
}

function checkSignature(signature: string): string {
  if (!SIGNATURE.test(signature.trim())) throw new ValidationError('signature', 'signature must be a 65-byte hex signature (0x…).');
  return signature.trim();
}

export interface WalletNonce {
  /** The SIWE message to sign. */
  message: string;
  nonce: string;
}

export interface WalletLink {
  /** Whether an existing wallet account was merged into the caller's. */
  merged: boolean;
  user: User;
}

export async function createNonce(address: string): Promise<WalletNonce> {
  checkAddress(address);
  throw new NotAvailableYetError(FEATURE);
}

export async function walletLogin(input: { address: string; signature: string; message: string }, _meta: SessionMeta): Promise<IssuedTokens> {
  checkAddress(input.address);
  checkSignature(input.signature);
  if (!input.message.trim()) throw new ValidationError('message', 'message is the signed SIWE message and must not be empty.');
  throw new NotAvailableYetError(FEATURE);
}

export async function linkWallet(_userId: number, input: { address: string; signature: string }): Promise<WalletLink> {
  checkAddress(input.address);
  checkSignature(input.signature);
  throw new NotAvailableYetError(FEATURE);
}

export async function unlinkWallet(_userId: number): Promise<User> {
  throw new NotAvailableYetError(FEATURE);
}
