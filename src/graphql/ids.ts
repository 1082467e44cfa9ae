import { ValidationError } from '../lib/errors.js';

/** GraphQL IDs are the database's integer ids, as strings. */
export function toDbId(id: string | number, field = 'id'): number {
  const n = typeof id === 'number' ? id : /^\d{1,10}$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 2_147_483_647) throw new ValidationError(field, `${field} must be a positive integer id.`);
  return n;
}
