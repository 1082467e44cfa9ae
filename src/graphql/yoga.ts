import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { AppError } from '../lib/errors.js';
import { log } from '../lib/logger.js';
import { authenticate, type Authentication, type Credentials } from '../modules/accounts/authenticate.js';
import { syncLocale } from '../modules/accounts/accounts.service.js';
import { parseLocale, toLocale } from '../modules/accounts/account-mails.js';
import type { Context, RequestInfo } from './context.js';
import { schema } from './schema.js';
import { shareSubscriptionResults } from './shared-subscriptions.js';

export interface ServerContext {
  ip?: string | null;
  /**
   * The credentials of the request, already checked by the caller (the REST layer checks them
   * for its rate limits); the context then does not check them again.
   */
  auth?: Authentication;
}

/** One context for HTTP and WebSocket: authenticate once, remember who asked and how. */
export async function createContext(credentials: Credentials, request: RequestInfo, checked?: Authentication): Promise<Context> {
  const auth = checked ?? (await authenticate(credentials));
  if (auth.viewer && (request.localeRequested ?? request.locale !== 'en')) {
    syncLocale(auth.viewer.userId, toLocale(request.locale)).catch((err: unknown) => log.warn({ err }, 'locale sync failed'));
  }
  return { viewer: auth.viewer, authProblem: auth.viewer ? null : auth.problem, request };
}

export function credentialsFromHeaders(headers: Headers, url: URL): Credentials {
  const authorization = headers.get('authorization');
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1] ?? null;
  return { bearer, apiKey: headers.get('x-api-key') ?? url.searchParams.get('apikey') };
}

interface GraphQLErrorLike extends Error {
  originalError?: unknown;
  extensions?: Record<string, unknown>;
  nodes?: GraphQLError['nodes'];
  path?: GraphQLError['path'];
}

// Duck-typed on purpose: graphql can be loaded twice (its CJS and ESM builds), and then
// `instanceof GraphQLError` fails for errors made by the other copy.
const isGraphQLError = (e: unknown): e is GraphQLErrorLike =>
  e instanceof Error && e.name === 'GraphQLError' && 'extensions' in e;

function rootCause(error: unknown): unknown {
  let current = error;
  while (isGraphQLError(current) && current.originalError) current = current.originalError;
  return current;
}

/**
 * Errors with a code (AppErrors, whose `extensions` GraphQL copies) and errors GraphQL raises
 * on purpose (parsing, validation, variables) pass through; anything else is logged and
 * replaced by "Unexpected error." so no internals reach the client.
 */
export function maskError(error: unknown): GraphQLError {
  const cause = rootCause(error);
  const location = isGraphQLError(error) ? { nodes: error.nodes, path: error.path } : {};
  if (cause instanceof AppError) return new GraphQLError(cause.message, { ...location, extensions: cause.extensions });
  if (isGraphQLError(error)) {
    const extensions = error.extensions ?? {};
    if (typeof extensions.code === 'string' || isGraphQLError(cause) || (cause instanceof SyntaxError && extensions.http)) {
      return error as GraphQLError;
    }
  }
  log.error({ err: cause }, 'unexpected error in a GraphQL operation');
  return new GraphQLError('Unexpected error.', { ...location, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/** Drops "Did you mean …?" from validation errors: suggestions let anyone map the schema. */
const hideFieldSuggestions: Plugin = {
  onValidate: () => ({ result, setResult }) => {
    if (!result.some((e) => / Did you mean /.test(e.message))) return;
    setResult(
      result.map((e) =>
        / Did you mean /.test(e.message)
          ? new GraphQLError(e.message.replace(/ Did you mean .*$/, ''), { nodes: e.nodes, extensions: e.extensions })
          : e,
      ),
    );
  },
};

export type RelaisYoga = YogaServerInstance<ServerContext, Context>;

export function buildYoga(): RelaisYoga {
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: { title: 'Relais GraphQL', subscriptionsProtocol: 'WS' },
    landingPage: false,
    logging: false,
    maskedErrors: { maskError },
    context: ({ request, ip, auth }) => {
      const url = new URL(request.url);
      return createContext(
        credentialsFromHeaders(request.headers, url),
        {
          ip: ip ?? null,
          userAgent: request.headers.get('user-agent'),
          locale: toLocale(request.headers.get('fp-locale')),
          localeRequested: parseLocale(request.headers.get('fp-locale')) !== null,
        },
        auth,
      );
    },
    plugins: [
      EnvelopArmorPlugin({
        // Introspection counts too, so a hand-made nested __type query cannot dig forever;
        // the standard introspection query (depth 21) still fits.
        maxDepth: { n: 25, ignoreIntrospection: false },
        costLimit: { maxCost: 5000 },
        maxAliases: { n: 15 },
        maxDirectives: { n: 20 },
        maxTokens: { n: 2000 },
        // Its error rewriting drops originalError and extensions; hideFieldSuggestions does it instead.
        blockFieldSuggestion: { enabled: false },
      }),
      hideFieldSuggestions,
      shareSubscriptionResults,
    ],
  });
}
