import { prisma, Prisma } from '../../db.js';
import type { LedgerTransaction } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import { InsufficientBalanceError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { formatMoney, MONEY_MAX, type Money } from '../../lib/money.js';
import { SUBTYPES, type SubtypeName } from './subtypes.js';

type Tx = Prisma.TransactionClient;

export interface LedgerEntry {
  userId: number;
  subtype: SubtypeName;
  /** Signed: positive credits, negative debits. */
  amount: Money;
  apiKeyId?: number | null;
  orderId?: number | null;
  note?: string | null;
  actorId?: number | null;
  /** Refuse the entry when it would take the balance below zero. */
  requireFunds?: boolean;
}

/**
 * The only way a balance changes: the balance update and its ledger row are written in the
 * caller's transaction, so sum(confirmed rows) = balance holds under any concurrency (the
 * UPDATE takes the row lock; concurrent entries for one user queue behind it).
 */
export async function applyEntry(tx: Tx, entry: LedgerEntry): Promise<LedgerTransaction> {
  const subtype = SUBTYPES[entry.subtype];
  const where: Prisma.UserWhereInput = { id: entry.userId };
  if (entry.requireFunds && entry.amount.isNegative()) where.balance = { gte: entry.amount.negated() };
  const updated = await tx.user.updateManyAndReturn({
    where,
    data: { balance: { increment: entry.amount } },
    select: { balance: true },
  });
  if (updated.length !== 1) {
    const exists = await tx.user.count({ where: { id: entry.userId } });
    throw exists ? new InsufficientBalanceError() : new NotFoundError('User');
  }
  return tx.ledgerTransaction.create({
    data: {
      userId: entry.userId,
      type: subtype.type,
      subtype: subtype.code,
      subtypeLabel: subtype.label,
      amount: entry.amount,
      balanceAfter: updated[0]!.balance,
      apiKeyId: entry.apiKeyId ?? null,
      orderId: entry.orderId ?? null,
      note: entry.note ?? null,
      actorId: entry.actorId ?? null,
    },
  });
}

/** Tells subscribers about committed ledger rows; call after the transaction commits. */
export function announce(rows: LedgerTransaction[]): void {
  for (const row of rows) {
    void bus.publish('balance:changed', { userId: row.userId, balance: formatMoney(row.balanceAfter!), transactionId: row.id });
  }
}

/**
 * An administrator's manual credit (positive) or debit (negative), with a note. A debit may
 * not take the balance below zero.
 */
export async function adjustBalance(input: { userId: number; amount: Money; note: string; actorId: number | null }): Promise<LedgerTransaction> {
  if (input.amount.isZero()) throw new ValidationError('amount', 'amount must not be zero.');
  if (input.amount.abs().gt(MONEY_MAX)) throw new ValidationError('amount', 'amount is too large.');
  const note = input.note.trim();
  if (!note || note.length > 500) throw new ValidationError('note', 'note is required (at most 500 characters).');
  const row = await prisma.$transaction((tx) =>
    applyEntry(tx, {
      userId: input.userId,
      subtype: input.amount.isNegative() ? 'adjustment_debit' : 'adjustment_credit',
      amount: input.amount,
      note,
      actorId: input.actorId,
      requireFunds: true,
    }),
  );
  announce([row]);
  return row;
}
