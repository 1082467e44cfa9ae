import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { z } from 'zod';
import type { RestError } from './errors.js';

/** Which document a route belongs to: its error body and conventions follow that document. */
export type Family = 'leproxy' | 'conventions';

export interface RestRequest<Q, B> {
  params: Record<string, string>;
  query: Q;
  body: B;
}

export type RestResult = { status?: number; body: unknown } | { error: RestError };

/**
 * One documented endpoint: its contract (method, path, request and response schemas, which
 * feed /openapi.json and /docs), the GraphQL operation that serves it, how the request becomes
 * its variables, and how its result becomes the documented JSON (or an error of the family).
 */
export interface RestRoute<R, V, Q = Record<string, never>, B = undefined> {
  family: Family;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Express-style: `/keys/:id`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** Needs an API key or access token (GraphQL enforces it; this documents it). */
  auth: boolean;
  /** `auth`: log-in, registration and password routes, limited per IP more tightly. */
  limit?: 'auth';
  /** Query parameters (string values in, typed values out). */
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The 200 body. */
  response: z.ZodType;
  operation: TypedDocumentNode<R, V>;
  variables(req: RestRequest<Q, B>): V;
  result(data: R): RestResult;
  /** GraphQL field names (in validation errors) → this route's request field names. */
  fields?: Record<string, string>;
  /** Conventions family: the translation key answered per error code. */
  messages?: Record<string, string>;
}

export type AnyRoute = RestRoute<unknown, Record<string, unknown>, unknown, unknown>;

/** Types one route against its operation and schemas, then erases the types so routes share one table. */
export const defineRoute = <R, V, Q = Record<string, never>, B = undefined>(route: RestRoute<R, V, Q, B>): AnyRoute =>
  route as unknown as AnyRoute;

/** A typed error result of an operation (`... on Error { code message }`, ValidationError's field). */
export function errorOf(result: { code?: string; message?: string; field?: string }): { error: RestError } {
  return { error: { code: result.code ?? 'INTERNAL_SERVER_ERROR', message: result.message ?? 'Unexpected error.', field: result.field } };
}
