import type { Family } from './route.js';

/**
 * GraphQL error codes (and the HTTP layer's own) → HTTP status, one table for every REST
 * family. A code missing here is a server error.
 */
export const HTTP_STATUS: Record<string, number> = {
  BAD_USER_INPUT: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  INVALID_TOKEN: 400,
  INVALID_JSON: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  INSUFFICIENT_BALANCE: 402,
  FORBIDDEN: 403,
  EMAIL_NOT_VERIFIED: 403,
  LIMIT_REACHED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL_SERVER_ERROR: 500,
  NOT_AVAILABLE_YET: 501,
};

/**
 * Translation keys of the conventions family (002: "the message field is a translation key"),
 * per code; a route may name its own (currency.invalid_base).
 */
export const TRANSLATION_KEYS: Record<string, string> = {
  BAD_USER_INPUT: 'error.validation',
  INVALID_JSON: 'error.invalid_json',
  UNAUTHENTICATED: 'auth.unauthorized',
  FORBIDDEN: 'auth.forbidden',
  NOT_FOUND: 'error.not_found',
  METHOD_NOT_ALLOWED: 'error.method_not_allowed',
  CONFLICT: 'error.conflict',
  PAYLOAD_TOO_LARGE: 'error.payload_too_large',
  UNSUPPORTED_MEDIA_TYPE: 'error.unsupported_media_type',
  RATE_LIMITED: 'error.rate_limit',
  INTERNAL_SERVER_ERROR: 'error.internal',
  NOT_AVAILABLE_YET: 'error.not_available_yet',
};

export interface RestError {
  code: string;
  message: string;
  /** The request field a validation error is about. */
  field?: string;
}

export interface ErrorResponse {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The error body of a family:
 * - leproxy (000): `{ "error": "<message>", "code": "<CODE>" }`, plus `field` for validation errors;
 * - conventions (002): `{ "message": "<translation.key>", "path", "timestamp" }`, plus `field`.
 */
export function errorResponse(family: Family, error: RestError, path: string, messages: Record<string, string> = {}): ErrorResponse {
  const status = HTTP_STATUS[error.code] ?? 500;
  const field = error.field ? { field: error.field } : {};
  if (family === 'leproxy') return { status, body: { error: error.message, code: error.code, ...field } };
  const key = (error.field ? messages[`${error.code}:${error.field}`] : undefined) ?? messages[error.code] ?? TRANSLATION_KEYS[error.code] ?? (status >= 500 ? 'error.internal' : 'error.bad_request');
  return { status, body: { message: key, path, timestamp: new Date().toISOString(), ...field } };
}

/** Which family answers a path no route matches: the conventions' own paths, else Le Proxy Français. */
export const familyOfPath = (path: string): Family => (/^\/(locales|currencies|user)(\/|$)/.test(path) ? 'conventions' : 'leproxy');
