import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.js';
import { Decimal, formatMoney, parseMoney } from '../lib/money.js';

builder.scalarType('Money', {
  description: 'An exact amount in USD with up to six decimals, as a string ("12.500000").',
  serialize: (value) => formatMoney(value instanceof Decimal ? value : new Decimal(value)),
  parseValue: (value) => {
    const money = typeof value === 'string' || typeof value === 'number' ? parseMoney(value) : null;
    if (!money) throw new GraphQLError('Money must be a decimal string with at most 6 decimals.', { extensions: { code: 'BAD_USER_INPUT' } });
    return money;
  },
  parseLiteral: (ast) => {
    const money = ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT ? parseMoney(ast.value) : null;
    if (!money) throw new GraphQLError('Money must be a decimal string with at most 6 decimals.', { extensions: { code: 'BAD_USER_INPUT' } });
    return money;
  },
});

const DECIMAL_PATTERN = /^-?\d{1,18}(\.\d{1,18})?$/;
const decimalError = () => new GraphQLError('Decimal must be a decimal number, as a string like "0.92".', { extensions: { code: 'BAD_USER_INPUT' } });

builder.scalarType('Decimal', {
  description: 'An exact decimal number that is not money (exchange rates), as a string ("0.92").',
  serialize: (value) => value.toFixed(),
  parseValue: (value) => {
    const text = typeof value === 'string' ? value.trim() : typeof value === 'number' && Number.isFinite(value) ? String(value) : '';
    if (!DECIMAL_PATTERN.test(text)) throw decimalError();
    return new Decimal(text);
  },
  parseLiteral: (ast) => {
    if ((ast.kind !== Kind.STRING && ast.kind !== Kind.INT && ast.kind !== Kind.FLOAT) || !DECIMAL_PATTERN.test(ast.value)) throw decimalError();
    return new Decimal(ast.value);
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC ("2026-03-28T12:00:00.000Z").',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string.', { extensions: { code: 'BAD_USER_INPUT' } });
    return date;
  },
});

builder.scalarType('BigInt', {
  description: 'A non-negative integer that may exceed 2^53 (byte counts), as a string.',
  serialize: (value) => String(value),
  parseValue: (value) => {
    if ((typeof value !== 'string' && typeof value !== 'number') || !/^\d+$/.test(String(value))) {
      throw new GraphQLError('BigInt must be a non-negative integer.', { extensions: { code: 'BAD_USER_INPUT' } });
    }
    return BigInt(value);
  },
});
