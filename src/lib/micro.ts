/**
 * Money as integers of micro-units (10^-6, the ledger's scale) in plain numbers: for the SOCKS
 * worker's hot path and for threads that do without Decimal (it would bring Prisma's runtime
 * along). Exact while amounts stay under 2^53 micro-units (about 9 billion).
 */
export const MICRO = 1_000_000;

const AMOUNT = /^(-?)(\d+)(?:\.(\d{1,6}))?$/;

/** "12.5" → 12500000. Throws on anything that is not an amount with at most six decimals. */
export function microOf(amount: string): number {
  const m = AMOUNT.exec(amount);
  if (!m) throw new Error(`not an amount: ${amount}`);
  const micro = Number(m[2]) * MICRO + Number((m[3] ?? '').padEnd(6, '0'));
  return m[1] && micro !== 0 ? -micro : micro;
}

/** 12500000 → "12.500000": the ledger's canonical form (formatMoney in money.ts). */
export function formatMicro(micro: number): string {
  const abs = Math.abs(micro);
  const units = Math.floor(abs / MICRO);
  const frac = String(abs - units * MICRO).padStart(6, '0');
  return `${micro < 0 ? '-' : ''}${units}.${frac}`;
}
