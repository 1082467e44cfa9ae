import { prisma, Prisma } from '../../db.js';
import type { LedgerTransaction, TransactionType } from '../../generated/prisma/client.js';
import { bus, type BalanceChangedEvent } from '../../bus.js';
import { InsufficientBalanceError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { Decimal, formatMoney, MONEY_MAX, type Money } from '../../lib/money.js';
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
 * How a balance changes: the balance update and its ledger row are written in the caller's
 * transaction, so sum(confirmed rows) = balance holds under any concurrency (the UPDATE takes
 * the row lock; concurrent entries for one user queue behind it). The one other writer is
 * metering's per-second write (usage.service `recordTraffic`), which does the same in a single
 * SQL statement.
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

/** The bus event of a committed ledger row. */
export const balanceEvent = (row: LedgerTransaction): BalanceChangedEvent => ({
  userId: row.userId,
  balance: formatMoney(row.balanceAfter!),
  transactionId: row.id,
  type: row.type,
  amount: formatMoney(row.amount),
  apiKeyId: row.apiKeyId,
});

/** Tells subscribers about committed ledger rows; call after the transaction commits. */
export function announce(rows: LedgerTransaction[]): void {
  for (const row of rows) void bus.publish('balance:changed', balanceEvent(row));
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

export interface SubtypeSummary {
  subtype: number;
  label: string;
  total: Money;
  count: number;
}

export interface TypeSummary {
  total: Money;
  count: number;
  bySubtype: SubtypeSummary[];
}

export interface BalanceSummary {
  balance: Money;
  summary: Record<TransactionType, TypeSummary>;
}

/** The balance and confirmed transactions summed per type and subtype, in one grouped query. */
export async function balanceSummary(userId: number): Promise<BalanceSummary> {
  const [user, groups] = await Promise.all([
    prisma.user.findUnique({ where: { id: userId }, select: { balance: true } }),
    prisma.ledgerTransaction.groupBy({
      by: ['type', 'subtype', 'subtypeLabel'],
      where: { userId, status: 'confirmed' },
      _sum: { amount: true },
      _count: { _all: true },
      orderBy: [{ type: 'asc' }, { subtype: 'asc' }, { subtypeLabel: 'asc' }],
    }),
  ]);
  if (!user) throw new NotFoundError('User');
  const empty = (): TypeSummary => ({ total: new Decimal(0), count: 0, bySubtype: [] });
  const summary: Record<TransactionType, TypeSummary> = { deposit: empty(), consumption: empty(), adjustment: empty() };
  for (const g of groups) {
    const total = g._sum.amount ?? new Decimal(0);
    const type = summary[g.type];
    type.total = type.total.plus(total);
    type.count += g._count._all;
    type.bySubtype.push({ subtype: g.subtype, label: g.subtypeLabel, total, count: g._count._all });
  }
  return { balance: user.balance, summary };
}

export const TRANSACTIONS_MAX_PAGE_SIZE = 100;

export interface TransactionFilter {
  type?: TransactionType | null;
  subtype?: number | null;
  apiKeyId?: number | null;
}

export interface TransactionPage<T> {
  items: T[];
  /** Rows matching the filter, over all pages. */
  total: number;
  page: number;
  limit: number;
}

/**
 * The user's transactions, newest first, one page at a time. Every filter is ANDed with the
 * owner, so another user's key id simply matches nothing. `query` is the select/include a
 * GraphQL resolver adds; other callers pass none.
 */
export async function listTransactions<Q extends Omit<Prisma.LedgerTransactionFindManyArgs, 'where' | 'orderBy' | 'skip' | 'take' | 'cursor'>>(
  userId: number,
  filter: TransactionFilter,
  { page, limit }: { page: number; limit: number },
  query?: Q,
) {
  if (!Number.isInteger(page) || page < 1) throw new ValidationError('page', 'page must be 1 or more.');
  if (!Number.isInteger(limit) || limit < 1 || limit > TRANSACTIONS_MAX_PAGE_SIZE) {
    throw new ValidationError('limit', `limit must be between 1 and ${TRANSACTIONS_MAX_PAGE_SIZE}.`);
  }
  const where: Prisma.LedgerTransactionWhereInput = { userId };
  if (filter.type) where.type = filter.type;
  if (filter.subtype !== undefined && filter.subtype !== null) where.subtype = filter.subtype;
  if (filter.apiKeyId !== undefined && filter.apiKeyId !== null) where.apiKeyId = filter.apiKeyId;
  const [items, total] = await Promise.all([
    prisma.ledgerTransaction.findMany({ ...query, where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], skip: (page - 1) * limit, take: limit }),
    prisma.ledgerTransaction.count({ where }),
  ]);
  return { items, total, page, limit };
}
