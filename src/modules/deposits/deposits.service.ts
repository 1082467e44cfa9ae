import type { LedgerTransaction } from '../../generated/prisma/client.js';
import { NotAvailableYetError, ValidationError } from '../../lib/errors.js';

/**
 * Crypto deposits: the user submits a transaction hash, Relais verifies the amount on-chain
 * and credits it once confirmed. The API is defined now; verification arrives with the
 * deposits issue, and until then a valid submission is refused with NOT_AVAILABLE_YET.
 */
export const DEPOSIT_CURRENCIES = ['usdt', 'eth'] as const;
export type DepositCurrency = (typeof DEPOSIT_CURRENCIES)[number];
export const DEPOSIT_CHAINS: Record<number, string> = {
  1: 'Ethereum',
  137: 'Polygon',
  56: 'BSC',
  8453: 'Base',
  43114: 'Avalanche',
  560048: 'Hoodi',
};
const TX_HASH = /^0x[0-9a-fA-F]{64}$/;

export interface DepositInput {
  txHash: string;
  /** Default usdt. */
  currency?: string | null;
  /** Default 1 (Ethereum). */
  chainId?: number | null;
}

export async function submitDeposit(_userId: number, input: DepositInput): Promise<LedgerTransaction> {
  if (!TX_HASH.test(input.txHash.trim())) throw new ValidationError('txHash', 'txHash must be a transaction hash (0x followed by 64 hex digits).');
  const currency = (input.currency ?? 'usdt').trim().toLowerCase();
  if (!(DEPOSIT_CURRENCIES as readonly string[]).includes(currency)) {
    throw new ValidationError('currency', `currency must be one of ${DEPOSIT_CURRENCIES.join(', ')}.`);
  }
  const chainId = input.chainId ?? 1;
  if (!(chainId in DEPOSIT_CHAINS)) {
    throw new ValidationError('chainId', `chainId must be one of ${Object.entries(DEPOSIT_CHAINS).map(([id, name]) => `${id} (${name})`).join(', ')}.`);
  }
  throw new NotAvailableYetError('Crypto deposits');
}
