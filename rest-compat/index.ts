import { print, type OperationDefinitionNode } from 'graphql';
import type { z } from 'zod';
import { credentialsFromHeaders, type RelaisYoga } from '../src/graphql/yoga.js';
import { authenticate, type Authentication } from '../src/modules/accounts/authenticate.js';
import { memoryRateLimiter, redisRateLimiter, type RateLimiter } from '../src/http/rate-limit.js';
import { errorResponse, familyOfPath, type RestError } from './errors.js';
import { toJson } from './json.js';
import { buildOpenApi } from './openapi.js';
import { renderDocs } from './docs.js';
import type { AnyRoute, Family } from './route.js';
import { conventionsRoutes } from './routes/conventions.js';
import { leproxyRoutes } from './routes/leproxy.js';

/** Every REST route, one table; /openapi.json and /docs are generated from it. */
export const routes: AnyRoute[] = [...leproxyRoutes, ...conventionsRoutes];

/** REST bodies are a few fields; anything bigger is refused before it is parsed. */
export const REST_MAX_BODY_BYTES = 64 * 1024;

export interface RestOptions {
  publicUrl: string;
  /** Origins allowed to call from a browser; `*` for any; empty for none (same origin only). */
  corsOrigins: string[];
  rateLimit: { perKey: number; auth: number; windowMs: number };
  /** How many proxies in front are trusted to append the client address to X-Forwarded-For. */
  trustProxy: number;
  /** Shares rate-limit counters between instances. */
  redisUrl?: string;
  /** Namespace of the counters in Redis (REDIS_PREFIX). */
  redisPrefix?: string;
}

export interface RestHandler {
  /** Answers every request that is not GraphQL or health: a route, the docs, or a 404 of the family. */
  handle(request: Request, context: { ip: string | null }): Promise<Response>;
  /** The 413 for a body over REST_MAX_BODY_BYTES, in the family's format. */
  payloadTooLarge(request: { url: string; origin: string | null }): Response;
  close(): Promise<void>;
}

const ALLOWED_HEADERS = 'authorization, content-type, x-api-key, fp-locale';

interface Compiled {
  route: AnyRoute;
  segments: string[];
  query: string;
  operationName: string;
  isQuery: boolean;
  /** How many path parameters the pattern has. */
  params: number;
}

function compile(route: AnyRoute): Compiled {
  const definition = route.operation.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;
  const segments = route.path.split('/');
  return {
    route,
    segments,
    query: print(route.operation),
    operationName: definition.name!.value,
    isQuery: definition.operation === 'query',
    params: segments.filter((s) => s.startsWith(':')).length,
  };
}

function match(c: Compiled, path: string[]): Record<string, string> | null {
  if (c.segments.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < path.length; i++) {
    const want = c.segments[i]!;
    if (want.startsWith(':')) {
      if (!path[i]) return null;
      try {
        params[want.slice(1)] = decodeURIComponent(path[i]!);
      } catch {
        return null;
      }
    } else if (want !== path[i]) return null;
  }
  return params;
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A GraphQL argument or input field name as the route's request names it. */
function restField(route: AnyRoute, field: string | undefined): string | undefined {
  if (!field) return undefined;
  const bare = field.replace(/^input\./, '');
  return route.fields?.[bare] ?? (route.family === 'leproxy' ? bare.split('.').map(snake).join('.') : bare);
}

function withRestField(route: AnyRoute, error: RestError): RestError {
  const field = restField(route, error.field);
  if (!field || !error.field) return error;
  const bare = error.field.replace(/^input\./, '');
  const message = bare === field ? error.message : error.message.replace(new RegExp(`\\b${bare.replace(/\./g, '\\.')}\\b`, 'g'), field);
  return { ...error, field, message };
}

/** The first problem zod found, as a validation error naming the field. */
function zodError(error: z.ZodError, raw: unknown, where: 'body' | 'query'): RestError {
  const issue = error.issues[0]!;
  const field = issue.path.map(String).join('.') || where;
  let value: unknown = raw;
  for (const key of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  const message = value === undefined && issue.path.length ? `${field} is required.` : `${field}: ${issue.message}.`;
  return { code: 'BAD_USER_INPUT', message, field };
}

export function createRestHandler(yoga: RelaisYoga, options: RestOptions): RestHandler {
  const compiled = routes.map(compile);
  const limiter: RateLimiter = options.redisUrl ? redisRateLimiter(options.redisUrl, `${options.redisPrefix ?? 'relais:'}ratelimit:`) : memoryRateLimiter();
  let openapi: { json: string; html: string } | null = null;
  const docs = () => {
    openapi ??= (() => {
      const doc = buildOpenApi(routes, options.publicUrl);
      return { json: JSON.stringify(doc, null, 2), html: renderDocs(doc) };
    })();
    return openapi;
  };

  function corsHeaders(origin: string | null): Record<string, string> {
    if (!origin || !options.corsOrigins.length) return {};
    const any = options.corsOrigins.includes('*');
    if (!any && !options.corsOrigins.includes(origin)) return { vary: 'Origin' };
    return { 'access-control-allow-origin': any ? '*' : origin, 'access-control-expose-headers': 'Retry-After', ...(any ? {} : { vary: 'Origin' }) };
  }

  function respond(status: number, body: unknown, origin: string | null, headers: Record<string, string> = {}, head = false): Response {
    const text = toJson(body);
    return new Response(head ? null : text, {
      status,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
        'cache-control': 'no-store',
        ...corsHeaders(origin),
        ...headers,
      },
    });
  }

  function fail(family: Family, error: RestError, path: string, origin: string | null, extra: { messages?: Record<string, string>; headers?: Record<string, string>; head?: boolean } = {}) {
    const { status, body } = errorResponse(family, error, path, extra.messages);
    const headers = { ...extra.headers, ...(status === 401 ? { 'www-authenticate': 'Bearer realm="relais"' } : {}) };
    return respond(status, body, origin, headers, extra.head);
  }

  async function rateLimited(route: AnyRoute, auth: Authentication, ip: string | null): Promise<number | null> {
    const { perKey, auth: authLimit, windowMs } = options.rateLimit;
    const address = ip ?? 'unknown';
    const checks: [string, number][] = [];
    if (route.limit === 'auth' && authLimit > 0) checks.push([`auth:${address}`, authLimit]);
    if (perKey > 0) {
      // Per valid key (or log-in session); refused or missing credentials count against the address,
      // so inventing keys does not escape the limit.
      const viewer = auth.viewer;
      const bucket = viewer?.apiKeyId !== undefined ? `key:${viewer.apiKeyId}` : viewer?.sessionId ? `session:${viewer.sessionId}` : `ip:${address}`;
      checks.push([bucket, perKey]);
    }
    let retryAfterMs: number | null = null;
    for (const [bucket, limit] of checks) {
      const decision = await limiter.hit(bucket, limit, windowMs);
      if (!decision.allowed) retryAfterMs = Math.max(retryAfterMs ?? 0, decision.resetMs);
    }
    return retryAfterMs;
  }

  async function readBody(request: Request): Promise<{ value: unknown } | { error: RestError }> {
    const text = await request.text();
    if (!text.trim()) return { value: {} };
    const type = request.headers.get('content-type');
    if (type && !/^application\/([\w.+-]*\+)?json\b/i.test(type.trim())) {
      return { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as JSON (Content-Type: application/json).' } };
    }
    try {
      return { value: JSON.parse(text) };
    } catch (err) {
      return { error: { code: 'INVALID_JSON', message: `The body is not valid JSON: ${(err as Error).message}` } };
    }
  }

  async function execute(c: Compiled, request: Request, url: URL, variables: unknown, ip: string | null, auth: Authentication) {
    const headers = new Headers(request.headers);
    headers.set('content-type', 'application/json');
    headers.set('accept', 'application/json');
    headers.delete('content-length');
    const target = new URL('/graphql', url);
    const apikey = url.searchParams.get('apikey');
    if (apikey) target.searchParams.set('apikey', apikey);
    const response = await yoga.fetch(
      new Request(target, { method: 'POST', headers, body: JSON.stringify({ query: c.query, operationName: c.operationName, variables }) }),
      { ip, auth },
    );
    return (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string; field?: string } }[] };
  }

  /** The client address: the socket's, or the entry the last trusted proxy appended to X-Forwarded-For. */
  function clientIp(request: Request, socketIp: string | null): string | null {
    if (!options.trustProxy) return socketIp;
    const hops = (request.headers.get('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    return hops[hops.length - options.trustProxy] ?? hops[0] ?? socketIp;
  }

  async function handle(request: Request, context: { ip: string | null }): Promise<Response> {
    const ip = clientIp(request, context.ip);
    const url = new URL(request.url);
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const origin = request.headers.get('origin');
    const method = request.method.toUpperCase();
    const head = method === 'HEAD';

    if (path === '/openapi.json' || path === '/docs') {
      if (method === 'OPTIONS') return new Response(null, { status: 204, headers: { allow: 'GET, HEAD, OPTIONS', ...preflight(origin, 'GET, HEAD, OPTIONS', request) } });
      if (method !== 'GET' && !head) return fail('leproxy', { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed here.` }, path, origin, { headers: { allow: 'GET, HEAD, OPTIONS' } });
      const { json, html } = docs();
      const [body, type] = path === '/docs' ? [html, 'text/html; charset=utf-8'] : [json, 'application/json; charset=utf-8'];
      return new Response(head ? null : body, { status: 200, headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...corsHeaders(origin) } });
    }

    const segments = path.split('/');
    const matching = compiled.map((c) => ({ c, params: match(c, segments) })).filter((m) => m.params !== null);
    // A literal segment wins over a parameter: /keys/usage is not /keys/:id.
    const fewest = Math.min(...matching.map((m) => m.c.params));
    const candidates = matching.filter((m) => m.c.params === fewest);
    const family = candidates[0]?.c.route.family ?? familyOfPath(path);
    if (!candidates.length) return fail(family, { code: 'NOT_FOUND', message: `No route ${path}.` }, path, origin, { head });

    const methods = new Set(candidates.map((m) => m.c.route.method));
    // HEAD is GET without the body, for reads only: a GET served by a mutation (verify-email,
    // nonce) must not run because a link checker sent HEAD.
    const headable = candidates.some((m) => m.c.route.method === 'GET' && m.c.isQuery);
    const allow = [...methods, ...(headable ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    if (method === 'OPTIONS') return new Response(null, { status: 204, headers: { allow, ...preflight(origin, allow, request) } });

    const found = candidates.find((m) => m.c.route.method === method || (head && headable && m.c.route.method === 'GET' && m.c.isQuery));
    if (!found) {
      return fail(family, { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}; use ${allow}.` }, path, origin, { headers: { allow }, head });
    }
    const { c, params } = found;
    const route = c.route;

    // Authenticated once here: the rate limit counts per key, and the operation reuses the result.
    const auth = await authenticate(credentialsFromHeaders(request.headers, url));
    const retryAfterMs = await rateLimited(route, auth, ip);
    if (retryAfterMs !== null) {
      const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
      return fail(family, { code: 'RATE_LIMITED', message: `Too many requests; retry in ${retryAfter} s.` }, path, origin, {
        headers: { 'retry-after': String(retryAfter) },
        messages: route.messages,
        head,
      });
    }

    let body: unknown;
    if (route.body) {
      const raw = await readBody(request);
      if ('error' in raw) return fail(family, raw.error, path, origin, { messages: route.messages });
      if (!raw.value || typeof raw.value !== 'object' || Array.isArray(raw.value)) {
        return fail(family, { code: 'BAD_USER_INPUT', message: 'The body must be a JSON object.', field: 'body' }, path, origin, { messages: route.messages });
      }
      const parsed = route.body.safeParse(raw.value);
      if (!parsed.success) return fail(family, zodError(parsed.error, raw.value, 'body'), path, origin, { messages: route.messages });
      body = parsed.data;
    }
    let query: unknown = {};
    if (route.query) {
      const raw = Object.fromEntries([...url.searchParams.keys()].filter((k) => k !== 'apikey').map((k) => [k, url.searchParams.get(k)!]));
      const parsed = route.query.safeParse(raw);
      if (!parsed.success) return fail(family, zodError(parsed.error, raw, 'query'), path, origin, { messages: route.messages, head });
      query = parsed.data;
    }

    const result = await execute(c, request, url, route.variables({ params: params!, query, body }), ip, auth);
    if (result.errors?.length || !result.data) {
      const first = result.errors?.[0];
      // GraphQL's own request errors (variables) carry no code: they are the caller's input.
      const error = withRestField(route, {
        code: first?.extensions?.code ?? (first ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR'),
        message: first?.message ?? 'Unexpected error.',
        field: first?.extensions?.field,
      });
      return fail(family, error, path, origin, { messages: route.messages, head });
    }
    const shaped = route.result(result.data);
    if ('error' in shaped) return fail(family, withRestField(route, shaped.error), path, origin, { messages: route.messages, head });
    return respond(shaped.status ?? 200, shaped.body, origin, {}, head);
  }

  function preflight(origin: string | null, allow: string, request: Request): Record<string, string> {
    const cors = corsHeaders(origin);
    if (!cors['access-control-allow-origin'] || !request.headers.get('access-control-request-method')) return cors;
    return { ...cors, 'access-control-allow-methods': allow, 'access-control-allow-headers': ALLOWED_HEADERS, 'access-control-max-age': '600' };
  }

  return {
    handle,
    payloadTooLarge({ url, origin }) {
      const path = new URL(url, options.publicUrl).pathname;
      const family = compiled.find((c) => match(c, path.split('/')))?.route.family ?? familyOfPath(path);
      return fail(family, { code: 'PAYLOAD_TOO_LARGE', message: `The body is larger than ${REST_MAX_BODY_BYTES / 1024} KiB.` }, path, origin, {
        headers: { connection: 'close' },
      });
    },
    close: () => limiter.close(),
  };
}
