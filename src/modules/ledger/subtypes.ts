import type { TransactionType } from '../../generated/prisma/client.js';

/** Transaction subtypes: stable numbers (the REST API exposes them) with their labels. */
export const SUBTYPES = {
  deposit_usdt: { type: 'deposit', code: 1, label: 'USDT' },
  deposit_online: { type: 'deposit', code: 2, label: 'Paiement en ligne' },
  deposit_eth: { type: 'deposit', code: 3, label: 'ETH' },
  deposit_usdc: { type: 'deposit', code: 4, label: 'USDC' },
  consumption_shared: { type: 'consumption', code: 10, label: 'Mutualisé' },
  consumption_dedicated: { type: 'consumption', code: 11, label: 'Dédié' },
  consumption_browser: { type: 'consumption', code: 12, label: 'Navigateur' },
  consumption_order: { type: 'consumption', code: 13, label: 'Commande' },
  adjustment_credit: { type: 'adjustment', code: 20, label: 'Crédit manuel' },
  adjustment_debit: { type: 'adjustment', code: 21, label: 'Débit manuel' },
  adjustment_refund: { type: 'adjustment', code: 22, label: 'Remboursement' },
} as const satisfies Record<string, { type: TransactionType; code: number; label: string }>;

export type SubtypeName = keyof typeof SUBTYPES;
