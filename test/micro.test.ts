import { describe, expect, it } from 'vitest';
import { formatMoney, parseMoney } from '../src/lib/money.js';
import { formatMicro, microOf } from '../src/lib/micro.js';

describe('money in micro-units', () => {
  it('reads ledger amounts exactly', () => {
    expect(microOf('12.5')).toBe(12_500_000);
    expect(microOf('0.000001')).toBe(1);
    expect(microOf('-0.000001')).toBe(-1);
    expect(microOf('-0.000000')).toBe(0);
    expect(Object.is(microOf('-0.000000'), -0)).toBe(false);
    expect(microOf('100000')).toBe(100_000_000_000);
    expect(microOf('8999999999.999999')).toBe(8_999_999_999_999_999);
  });

  it('refuses what is not an amount', () => {
    for (const bad of ['', '1.2345678', '1e-7', '12.', '.5', ' 1', 'NaN', '--1', '1,5']) expect(() => microOf(bad), bad).toThrow(/not an amount/);
  });

  it('writes the ledger’s canonical form, and agrees with Decimal both ways', () => {
    expect(formatMicro(12_500_000)).toBe('12.500000');
    expect(formatMicro(1)).toBe('0.000001');
    expect(formatMicro(-1)).toBe('-0.000001');
    expect(formatMicro(0)).toBe('0.000000');
    expect(formatMicro(-0)).toBe('0.000000');
    for (const amount of ['0', '0.7', '-3.141592', '99999.999999', '123456789.000001']) {
      const money = parseMoney(amount)!;
      expect(formatMicro(microOf(formatMoney(money)))).toBe(formatMoney(money));
    }
  });
});
