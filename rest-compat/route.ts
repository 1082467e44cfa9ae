import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { RestError } from './errors.js';

export interface RestRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

/**
 * One documented endpoint: which GraphQL operation serves it, how the request becomes its
 * variables, and how its result becomes the documented JSON (or an error of the family).
 */
export interface RestRoute<R, V> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  operation: TypedDocumentNode<R, V>;
  variables(req: RestRequest): V;
  result(data: R): { status?: number; body: unknown } | { error: RestError };
}

/** Types one route against its operation, then erases the types so routes share one table. */
export const defineRoute = <R, V>(route: RestRoute<R, V>): RestRoute<unknown, Record<string, unknown>> =>
  route as unknown as RestRoute<unknown, Record<string, unknown>>;
