import { print } from 'graphql';
import type { RelaisYoga } from '../src/graphql/yoga.js';
import { leproxyError } from './errors.js';
import type { RestRoute } from './route.js';
import { leproxyRoutes } from './routes/leproxy.js';

type AnyRoute = RestRoute<unknown, Record<string, unknown>>;

const routes: AnyRoute[] = [...leproxyRoutes];

function match(route: AnyRoute, method: string, path: string): Record<string, string> | null {
  if (route.method !== method) return null;
  const want = route.path.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i]!.startsWith(':')) params[want[i]!.slice(1)] = decodeURIComponent(got[i]!);
    else if (want[i] !== got[i]) return null;
  }
  return params;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });

/**
 * Serves the REST routes by running their GraphQL operation in-process through yoga, with
 * the caller's headers, so authentication, context and errors are the GraphQL ones.
 * Returns null for paths it does not know.
 */
export function createRestHandler(yoga: RelaisYoga) {
  return async (request: Request, serverContext: { ip?: string | null }): Promise<Response | null> => {
    const url = new URL(request.url);
    const found = routes.map((route) => ({ route, params: match(route, request.method, url.pathname) })).find((m) => m.params);
    if (!found) return null;
    const body = request.method === 'GET' || request.method === 'DELETE' ? undefined : await request.json().catch(() => undefined);
    const variables = found.route.variables({ params: found.params!, query: url.searchParams, body });
    const headers = new Headers(request.headers);
    headers.set('content-type', 'application/json');
    headers.set('accept', 'application/json');
    const gqlResponse = await yoga.fetch(
      new Request(new URL('/graphql', url), { method: 'POST', headers, body: JSON.stringify({ query: print(found.route.operation), variables }) }),
      serverContext,
    );
    const result = (await gqlResponse.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
    if (result.errors?.length || !result.data) {
      const first = result.errors?.[0];
      const err = leproxyError({ code: first?.extensions?.code ?? 'INTERNAL_SERVER_ERROR', message: first?.message ?? 'Unexpected error.' });
      return json(err.status, err.body);
    }
    const shaped = found.route.result(result.data);
    if ('error' in shaped) {
      const err = leproxyError(shaped.error);
      return json(err.status, err.body);
    }
    return json(shaped.status ?? 200, shaped.body);
  };
}
