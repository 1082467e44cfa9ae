import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { print, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig } from '../../src/config.js';
import { buildApp, type App } from '../../src/server.js';
import { freshPostgres } from './database.js';

export interface Auth {
  token?: string;
  apiKey?: string;
  header?: 'authorization' | 'x-api-key' | 'query';
}

export interface TestServer {
  url: string;
  /** SOCKS5 ports (ephemeral) when started with `{ socks: true }`. */
  socks: { shared?: number; dedicated?: number };
  app: App;
  env: Record<string, string>;
  gql<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V, auth?: Auth): Promise<ExecutionResult<R>>;
  /** Like gql, but fails on any error and returns data. */
  ok<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V, auth?: Auth): Promise<R>;
  /** Makes the database unreachable (drops it, or closes PGlite) to test readiness. */
  breakDatabase(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the whole product on an ephemeral port over a fresh database. */
export async function startServer(env: Record<string, string> = {}, options: { socks?: boolean } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'relais-test-'));
  const pgdb = await freshPostgres();
  const fullEnv: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    SOCKS_SHARED_PORT: '0',
    SOCKS_DEDICATED_PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    APP_SECRET: 'test-secret-test-secret-test-secret-0123',
    ...(pgdb ? { DATABASE_URL: pgdb.url } : {}),
    ...env,
  };
  const app = await buildApp(loadConfig(fullEnv), { ephemeralSocks: options.socks ?? false });
  const { port, socks } = await app.start();
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    socks,
    app,
    env: fullEnv,
    ...graphqlClient(url),
    async breakDatabase() {
      if (pgdb) await pgdb.drop();
      else await app.db.close();
    },
    async stop() {
      await app.stop();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type GraphqlClient = Pick<TestServer, 'gql' | 'ok'>;

/** gql/ok against any Relais at `url` (an in-process server or a spawned process). */
export function graphqlClient(url: string): GraphqlClient {
  const gql: GraphqlClient['gql'] = async (doc, variables, auth) => {
    const target = new URL('/graphql', url);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const credential = auth?.token ?? auth?.apiKey;
    if (credential) {
      const via = auth?.header ?? 'authorization';
      if (via === 'authorization') headers.authorization = `Bearer ${credential}`;
      else if (via === 'x-api-key') headers['x-api-key'] = credential;
      else target.searchParams.set('apikey', credential);
    }
    const res = await fetch(target, { method: 'POST', headers, body: JSON.stringify({ query: print(doc), variables }) });
    return (await res.json()) as ExecutionResult<never>;
  };
  return {
    gql,
    async ok(doc, variables, auth) {
      const result = await gql(doc, variables, auth);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data!;
    },
  };
}
