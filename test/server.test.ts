import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { createKeyOk, verifiedUser } from './helpers/fixtures.js';
import { printedSchema, SCHEMA_FILE } from '../src/graphql/print-schema.js';

let server: TestServer;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url });
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

const post = (query: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });

describe('schema.graphql', () => {
  it('is the schema the code builds (run `npm run schema:print` after changing it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(printedSchema());
  });
});

describe('HTTP server', () => {
  it('answers health and readiness', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready', database: 'ok' });
  });

  it('serves GraphiQL to browsers at /graphql', async () => {
    const res = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Relais GraphQL');
  });

  it('answers unknown paths with a JSON 404', async () => {
    const res = await fetch(`${server.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('streams results over SSE', async () => {
    const res = await post('{ __typename }', { accept: 'text/event-stream' });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(await res.text()).toContain('"__typename":"Query"');
  });
});

describe('GraphQL protections', () => {
  it('refuses queries that are too deep, yet accepts the standard introspection query', async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const introspection = await (await post(getIntrospectionQuery())).json();
    expect(introspection.errors).toBeUndefined();
    let nested = 'name';
    for (let i = 0; i < 30; i++) nested = `ofType { ${nested} }`;
    const body = await (await post(`{ __type(name: "Query") { fields { type { ${nested} } } } }`)).json();
    expect(body.errors?.map((e: { message: string }) => e.message).join(' ')).toMatch(/(depth|cost) limit of \d+ exceeded/i);
    expect(body.data).toBeUndefined();
  });

  it('refuses too many aliases and oversized documents', async () => {
    const aliases = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: me { balance }`).join(' ')} }`;
    expect((await (await post(aliases)).json()).errors?.[0]?.message).toMatch(/alias/i);
    const tokens = `{ ${Array.from({ length: 2500 }, () => '__typename').join(' ')} }`;
    expect((await (await post(tokens)).json()).errors?.[0]?.message).toMatch(/token/i);
  });

  it('hides field suggestions', async () => {
    const body = await (await post('{ mee { balance } }')).json();
    expect(body.errors[0].message).toBe('Cannot query field "mee" on type "Query".');
  });
});

describe('graphql-ws', () => {
  const connect = (connectionParams: Record<string, unknown>) =>
    createClient({ url: server.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });

  it('runs operations on the same path, authenticated in connection_init with an API key', async () => {
    const user = await verifiedUser(server, smtp);
    const { key } = await createKeyOk(server, user);
    const client = connect({ apiKey: key });
    const result = await new Promise<unknown>((resolve, reject) => {
      let value: unknown;
      client.subscribe({ query: '{ me { user { email } authenticatedWith } }' }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
    });
    expect(result).toEqual({ data: { me: { user: { email: user.email }, authenticatedWith: 'apiKey' } } });
    await client.dispose();
  });

  it('closes the socket with 4403 when the presented credential is refused', async () => {
    const client = connect({ authorization: 'Bearer not.a.token' });
    const error = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: '{ __typename }' }, { next: () => {}, error: resolve, complete: () => resolve(null) });
    });
    expect((error as { code?: number }).code).toBe(4403);
    await client.dispose();
  });
});

describe('readiness', () => {
  it('reports 503 when the database is unreachable', async () => {
    const other = await startServer();
    await other.breakDatabase();
    const res = await fetch(`${other.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', database: 'unreachable' });
    expect((await fetch(`${other.url}/healthz`)).status).toBe(200);
    await other.stop();
  });
});
