/**
 * Domain errors. Services throw these; GraphQL returns them as typed results where a field
 * declares them and otherwise as errors with `extensions.code`; REST compat maps the code to
 * an HTTP status and its family's body. Messages are safe to show to the caller.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'LIMIT_REACHED'
  | 'INSUFFICIENT_BALANCE'
  | 'INVALID_CREDENTIALS'
  | 'EMAIL_NOT_VERIFIED'
  | 'INVALID_TOKEN'
  | 'NOT_AVAILABLE_YET'
  | 'RATE_LIMITED';

export class AppError extends Error {
  /** GraphQL copies an original error's `extensions` onto the error it reports. */
  readonly extensions: { code: ErrorCode; [key: string]: unknown };

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
    this.extensions = { code };
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required: send a valid access token or API key.') {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You are not allowed to do this.') {
    super('FORBIDDEN', message);
  }
}

export class NotFoundError extends AppError {
  constructor(readonly resource: string) {
    super('NOT_FOUND', `${resource} not found.`);
  }
}

export class ValidationError extends AppError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('BAD_USER_INPUT', message);
    this.extensions.field = field;
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class LimitReachedError extends AppError {
  constructor(
    message: string,
    readonly limit: number,
  ) {
    super('LIMIT_REACHED', message);
  }
}

export class InsufficientBalanceError extends AppError {
  constructor(message = 'Insufficient balance.') {
    super('INSUFFICIENT_BALANCE', message);
  }
}

export class AuthError extends AppError {
  constructor(code: 'INVALID_CREDENTIALS' | 'EMAIL_NOT_VERIFIED' | 'INVALID_TOKEN', message: string) {
    super(code, message);
  }
}

export class NotAvailableYetError extends AppError {
  constructor(feature: string) {
    super('NOT_AVAILABLE_YET', `${feature} is not available yet.`);
  }
}
