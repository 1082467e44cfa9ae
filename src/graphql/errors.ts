import {
  AppError,
  AuthError,
  ConflictError,
  ForbiddenError,
  InsufficientBalanceError,
  LimitReachedError,
  NotAvailableYetError,
  NotFoundError,
  ValidationError,
} from '../lib/errors.js';
import { builder } from './builder.js';

/** The `Error` interface every typed error result implements. */
export const ErrorInterface = builder.interfaceRef<AppError>('Error').implement({
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Stable machine-readable code.' }),
    message: t.exposeString('message'),
  }),
});

const plainErrors = [
  [NotFoundError, 'NotFoundError', 'The object does not exist or is not yours.'],
  [ForbiddenError, 'ForbiddenError', 'The caller may not do this.'],
  [ConflictError, 'ConflictError', 'The request conflicts with the current state.'],
  [InsufficientBalanceError, 'InsufficientBalanceError', 'The balance does not cover the amount.'],
  [AuthError, 'AuthError', 'Credentials or a token were refused (INVALID_CREDENTIALS, EMAIL_NOT_VERIFIED, INVALID_TOKEN).'],
  [NotAvailableYetError, 'NotAvailableYetError', 'The capability exists in the API but is not enabled yet.'],
] as const;

for (const [cls, name, description] of plainErrors) {
  // The classes differ only in constructor arguments, which Pothos does not use.
  builder.objectType(cls as unknown as typeof ConflictError, {
    name,
    description,
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof cls,
  });
}

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'An input was refused; `field` names it.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof ValidationError,
  fields: (t) => ({ field: t.exposeString('field') }),
});
builder.objectType(LimitReachedError, {
  name: 'LimitReachedError',
  description: 'A count or spending limit is reached.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof LimitReachedError,
  fields: (t) => ({ limit: t.exposeInt('limit') }),
});
