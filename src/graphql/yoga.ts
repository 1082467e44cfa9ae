import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { AppError } from '../lib/errors.js';
import { log } from '../lib/logger.js';
import { authenticate, type Credentials } from '../modules/accounts/authenticate.js';
import { syncLocale } from '../modules/accounts/accounts.service.js';
import { toLocale } from '../modules/accounts/account-mails.js';
import type { Context, RequestInfo } from './context.js';
import { schema } from './schema.js';

export interface ServerContext {
  ip?: string | null;
}

/** One context for HTTP and WebSocket: authenticate once, remember who asked and how. */
export async function createContext(credentials: Credentials, request: RequestInfo): Promise<Context> {
  const auth = await authenticate(credentials);
  if (auth.viewer && request.locale !== 'en') {
    syncLocale(auth.viewer.userId, toLocale(request.locale)).catch((err: unknown) => log.warn({ err }, 'locale sync failed'));
  }
  return { viewer: auth.viewer, authProblem: auth.viewer ? null : auth.problem, request };
}

export function credentialsFromHeaders(headers: Headers, url: URL): Credentials {
  const authorization = headers.get('authorization');
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1] ?? null;
  return { bearer, apiKey: headers.get('x-api-key') ?? url.searchParams.get('apikey') };
}

/** AppErrors keep their message and code; anything else is logged and masked. */
export function maskError(error: unknown): GraphQLError {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (original instanceof AppError) {
    const extensions: Record<string, unknown> = { code: original.code };
    if ('field' in original) extensions.field = original.field;
    return new GraphQLError(original.message, {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions,
    });
  }
  if (error instanceof GraphQLError && !error.originalError) return error;
  if (error instanceof GraphQLError && error.originalError instanceof GraphQLError) return error.originalError;
  log.error({ err: original }, 'unexpected error in a GraphQL operation');
  return new GraphQLError('Unexpected error.', {
    ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  });
}

export type RelaisYoga = YogaServerInstance<ServerContext, Context>;

export function buildYoga(): RelaisYoga {
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: { title: 'Relais GraphQL', subscriptionsProtocol: 'WS' },
    landingPage: false,
    logging: false,
    maskedErrors: { maskError },
    context: ({ request, ip }) => {
      const url = new URL(request.url);
      return createContext(credentialsFromHeaders(request.headers, url), {
        ip: ip ?? null,
        userAgent: request.headers.get('user-agent'),
        locale: toLocale(request.headers.get('fp-locale')),
      });
    },
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: 10 },
        costLimit: { maxCost: 5000 },
        maxAliases: { n: 15 },
        maxDirectives: { n: 20 },
        maxTokens: { n: 2000 },
        blockFieldSuggestion: { enabled: true },
      }),
    ],
  });
}
