/** GraphQL error codes → HTTP status, one table for every REST family. */
export const HTTP_STATUS: Record<string, number> = {
  BAD_USER_INPUT: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  INVALID_TOKEN: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  INSUFFICIENT_BALANCE: 402,
  FORBIDDEN: 403,
  EMAIL_NOT_VERIFIED: 403,
  LIMIT_REACHED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  NOT_AVAILABLE_YET: 501,
};

export interface RestError {
  code: string;
  message: string;
}

/** The error body of the Le Proxy Français family: `{ "error": "...", "code": "..." }`. */
export function leproxyError(error: RestError): { status: number; body: unknown } {
  return { status: HTTP_STATUS[error.code] ?? 500, body: { error: error.message, code: error.code } };
}
