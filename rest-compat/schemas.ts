import { z } from 'zod';
import { parseMoney } from '../src/lib/money.js';

/**
 * Request and response schemas shared by the route tables. Requests are checked for their
 * shape only (types, presence); every rule about values lives in the services.
 */

/** A query parameter that must be an integer ("?days=7"). */
export const intParam = z.coerce.number({ error: 'must be an integer' }).int('must be an integer');

/** An amount in a request body: a JSON number with at most 6 decimals (exact money). */
export const moneyNumber = z.number().refine((n) => parseMoney(n) !== null, 'must be an amount with at most 6 decimals');

/** An amount in a response: a JSON number written from the exact decimal. */
export const amount = z.number();
export const nullableAmount = z.number().nullable();
export const timestamp = z.string().meta({ description: 'ISO-8601, UTC', example: '2026-03-28T12:00:00Z' });

export const success = z.literal(true);

/** The three spending windows of limits, usage and what is left. */
export const windowAmounts = z.object({ daily: amount, weekly: amount, monthly: amount }).strict();
export const windowLimits = z.object({ daily: nullableAmount, weekly: nullableAmount, monthly: nullableAmount }).strict();
