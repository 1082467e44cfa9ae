import type { OperationDefinitionNode } from 'graphql';
import { z } from 'zod';
import type { AnyRoute } from './route.js';

/**
 * The OpenAPI 3.0 document of the REST layer, generated from the route table (never written
 * by hand): every route with its parameters, request body, 200 body and error bodies.
 */

type Schema = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  tags: { name: string; description?: string }[];
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, Schema> };
  paths: Record<string, Record<string, OpenApiOperation>>;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: 'path' | 'query' | 'header'; required?: boolean; description?: string; schema: Schema }[];
  requestBody?: { required: boolean; content: { 'application/json': { schema: Schema } } };
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: { 'application/json': { schema: Schema } } }>;
}

/** A zod schema as an OpenAPI 3.0 Schema Object (JSON Schema's `$schema` and `propertyNames` are not part of it). */
function toSchema(schema: z.ZodType, io: 'input' | 'output'): Schema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Schema;
  return clean(json) as Schema;
}

function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$schema' || k === 'propertyNames') continue;
    // zod bounds every integer by the safe range; that says nothing to a reader.
    if ((k === 'minimum' && v === Number.MIN_SAFE_INTEGER) || (k === 'maximum' && v === Number.MAX_SAFE_INTEGER)) continue;
    out[k] = clean(v);
  }
  return out;
}

const operationName = (route: AnyRoute): string =>
  route.operation.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!.name!.value;

const errorRef = (family: AnyRoute['family']) => ({ $ref: family === 'leproxy' ? '#/components/schemas/LeProxyError' : '#/components/schemas/ConventionsError' });

const ERROR_DESCRIPTIONS: Record<string, string> = {
  '400': 'Invalid input (the body names the field), invalid JSON',
  '401': 'Missing, invalid or expired API key or token',
  '403': 'Not allowed (key scope, unverified email, limit reached)',
  '404': 'Not found (another user’s object is not found either)',
  '409': 'Conflicts with the current state (taken, revoked)',
  '413': 'Body too large',
  '429': 'Rate limited: retry after Retry-After seconds',
  '501': 'Not available yet',
};

const TAG_DESCRIPTIONS: Record<string, string> = {
  Conventions: 'Locales, display currencies and exchange rates (USD internally).',
};

export function buildOpenApi(routes: AnyRoute[], serverUrl: string): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const tags: string[] = [];
  for (const route of routes) {
    if (!tags.includes(route.tag)) tags.push(route.tag);
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters: NonNullable<OpenApiOperation['parameters']> = [];
    for (const name of route.path.match(/:(\w+)/g) ?? []) {
      parameters.push({ name: name.slice(1), in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } });
    }
    if (route.query) {
      const json = toSchema(route.query, 'output') as { properties?: Record<string, Schema>; required?: string[] };
      for (const [name, schema] of Object.entries(json.properties ?? {})) {
        const { description, ...rest } = schema as { description?: string };
        parameters.push({ name, in: 'query', required: json.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    parameters.push({ name: 'fp-locale', in: 'header', required: false, description: 'en, fr or uk (unknown: en); mails use it and a signed-in profile stores it', schema: { type: 'string' } });

    const responses: OpenApiOperation['responses'] = {
      '200': { description: route.summary, content: { 'application/json': { schema: toSchema(route.response, 'output') } } },
    };
    const codes = ['400', ...(route.auth ? ['401', '403'] : []), ...(route.path.includes(':') ? ['404'] : []), ...(route.body ? ['413'] : []), '429'];
    for (const code of codes) {
      responses[code] = {
        description: ERROR_DESCRIPTIONS[code]!,
        ...(code === '429' ? { headers: { 'Retry-After': { description: 'Seconds until the window ends', schema: { type: 'integer' } } } } : {}),
        content: { 'application/json': { schema: errorRef(route.family) } },
      };
    }
    responses.default = { description: 'Any other error, same body', content: { 'application/json': { schema: errorRef(route.family) } } };

    const operation: OpenApiOperation = {
      operationId: operationName(route).replace(/^Rest/, ''),
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.auth ? { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }, { apiKeyQuery: [] }] } : {}),
      parameters,
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(route.body, 'input') } } } } : {}),
      responses,
    };
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }

  return {
    openapi: '3.0.3',
    info: {
      title: 'Relais — REST API',
      version: '1.0.0',
      description:
        'The Le Proxy Français API (keys lpf_…) and the FonProxy conventions, served on top of the Relais GraphQL schema. ' +
        'Send an API key as Authorization: Bearer, x-api-key or ?apikey= (an access token from /auth/login works as Bearer). ' +
        'Amounts are USD as JSON numbers; timestamps are ISO-8601 UTC. Rate limits: 60 requests per minute per key (per IP without one), 5 per minute per IP on log-in, registration and password routes.',
    },
    servers: [{ url: serverUrl }],
    tags: tags.map((name) => ({ name, ...(TAG_DESCRIPTIONS[name] ? { description: TAG_DESCRIPTIONS[name] } : {}) })),
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Clé API (lpf_xxx) or access token' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        apiKeyQuery: { type: 'apiKey', in: 'query', name: 'apikey' },
      },
      schemas: {
        LeProxyError: {
          type: 'object',
          required: ['error', 'code'],
          properties: {
            error: { type: 'string', description: 'What went wrong, for people' },
            code: { type: 'string', description: 'Stable code: BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMITED, NOT_AVAILABLE_YET, …' },
            field: { type: 'string', description: 'The request field a validation error is about' },
          },
        },
        ConventionsError: {
          type: 'object',
          required: ['message', 'path', 'timestamp'],
          properties: {
            message: { type: 'string', description: 'Translation key (currency.invalid_base, error.rate_limit, …)' },
            path: { type: 'string' },
            timestamp: { type: 'string', format: 'date-time' },
            field: { type: 'string' },
          },
        },
      },
    },
    paths,
  };
}
