import { Prisma } from '../generated/prisma/client.js';

/**
 * Exact money arithmetic. Amounts are Decimal(18,6): six decimal places, never a float.
 */
export type Money = Prisma.Decimal;
export const Decimal = Prisma.Decimal;
export const MONEY_SCALE = 6;
/** Largest absolute amount Decimal(18,6) can hold. */
export const MONEY_MAX = new Decimal('999999999999.999999');

const MONEY_PATTERN = /^-?\d{1,12}(\.\d{1,6})?$/;

/** Parses a decimal string or number into Money; returns null when it is not an exact amount. */
export function parseMoney(value: string | number): Money | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? numberToPlain(value) : '') : value.trim();
  if (!MONEY_PATTERN.test(text)) return null;
  return new Decimal(text);
}

/** A JS number as the shortest decimal that round-trips (no exponent): 0.1 → "0.1". */
function numberToPlain(n: number): string {
  const s = String(n);
  return /e/i.test(s) ? new Decimal(s).toFixed() : s;
}

/** Canonical string: six decimals, as stored ("12.500000"). */
export const formatMoney = (m: Money): string => m.toFixed(MONEY_SCALE);
