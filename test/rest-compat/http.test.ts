import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, uniqueName, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { graphql } from '../../src/generated/graphql/index.js';
import { Me } from '../helpers/operations.js';
import { routes } from '../../rest-compat/index.js';
import { leproxyDoc, type JsonSchema } from './shape.js';

const SetExchangeRate = graphql(`
  mutation SetExchangeRate($currency: String!, $rate: Decimal!) {
    setExchangeRate(currency: $currency, rate: $rate) {
      __typename
      ... on MutationSetExchangeRateSuccess { data { currency rate source } }
      ... on Error { code message }
    }
  }
`);

const ProfileLocale = graphql(`
  query ProfileLocale {
    me { user { locale displayCurrency } }
  }
`);

const APP = 'https://app.example.com';

/** Fields of a documented example that a response schema lacks (objects with properties only). */
function undocumentedIn(schema: JsonSchema & { items?: JsonSchema }, example: unknown, path = '$'): string[] {
  if (Array.isArray(example)) return example.length && schema.items ? undocumentedIn(schema.items, example[0], `${path}[]`) : [];
  if (!example || typeof example !== 'object' || !schema.properties) return [];
  return Object.entries(example).flatMap(([k, v]) =>
    schema.properties![k] ? undocumentedIn(schema.properties![k]!, v, `${path}.${k}`) : [`${path}.${k}`],
  );
}

let server: TestServer;
let smtp: TestSmtp;
let user: TestUser;
let key: string;

beforeAll(async () => {
  smtp = await startSmtp();
  // The rates feed is down (nothing listens there): rates come from the table all the same.
  server = await startServer({ SMTP_URL: smtp.url, CORS_ORIGINS: `${APP},https://other.example.com`, AUTH_RATE_LIMIT: '1000', EXCHANGE_RATES_URL: 'http://127.0.0.1:9/latest' });
  user = await verifiedUser(server, smtp);
  key = (await createKeyOk(server, user)).key;
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

const request = (path: string, init: RequestInit = {}) => fetch(server.url + path, init);

describe('OpenAPI and the reference page', () => {
  it('serves /openapi.json, a valid OpenAPI 3.0 document covering every route of the table', async () => {
    const res = await request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const doc = await res.json();
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.0.3');
    const operations = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.map((o) => o.key).sort()).toEqual(routes.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort());
    for (const { key: k, op } of operations) {
      expect(op.responses['200'], k).toMatchObject({ content: { 'application/json': { schema: expect.any(Object) } } });
      expect(op.responses['429'], k).toBeDefined();
    }
  });

  it('matches the OpenAPI document embedded in the reference: same paths, methods, body fields and query parameters', async () => {
    const ours = (await (await request('/openapi.json')).json()) as typeof leproxyDoc.openapi;
    for (const [path, methods] of Object.entries(leproxyDoc.openapi.paths)) {
      for (const [method, documented] of Object.entries(methods)) {
        const op = ours.paths[path]?.[method];
        expect(op, `${method} ${path}`).toBeDefined();
        const docBody = documented.requestBody?.content['application/json'].schema;
        const ourBody = op!.requestBody?.content['application/json'].schema;
        if (docBody) {
          const types = (s: JsonSchema) => Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, v.type]));
          expect(types(ourBody!), `${method} ${path} body`).toEqual(types(docBody));
          expect([...(ourBody!.required ?? [])].sort(), `${method} ${path} required`).toEqual([...(docBody.required ?? [])].sort());
        } else {
          expect(ourBody, `${method} ${path} has no body`).toBeUndefined();
        }
        const params = (ps: { name: string; in: string; schema: JsonSchema }[] = []) =>
          ps.filter((p) => p.in !== 'header').map((p) => `${p.in}:${p.name}:${p.in === 'path' ? 'string' : p.schema.type}`).sort();
        expect(params(op!.parameters), `${method} ${path} parameters`).toEqual(params(documented.parameters));
        const response = (op as unknown as { responses: Record<string, { content: { 'application/json': { schema: JsonSchema } } }> }).responses['200']!;
        const example = leproxyDoc.examples[`${method.toUpperCase()} ${path.replace('{id}', ':id')}`];
        expect(undocumentedIn(response.content['application/json'].schema, example), `${method} ${path} response`).toEqual([]);
      }
    }
  });

  it('renders a readable API reference at /docs from the same table', async () => {
    const res = await request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<h1>Relais — REST API</h1>');
    for (const route of routes) expect(html, route.path).toContain(`<code>${route.path.replace(/:(\w+)/g, '{$1}')}</code>`);
    expect(html).toContain('Révéler la clé complète');
    expect(html).not.toMatch(/<script/i);
  });
});

describe('HTTP behaviour', () => {
  it('answers HEAD like GET without a body, but never runs a GET that changes something', async () => {
    const get = await request('/keys', { headers: { 'x-api-key': key } });
    const head = await request('/keys', { method: 'HEAD', headers: { 'x-api-key': key } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
    expect(await head.text()).toBe('');
    const verify = await request('/auth/verify-email?token=abc', { method: 'HEAD' });
    expect(verify.status).toBe(405);
    expect(verify.headers.get('allow')).toBe('GET, OPTIONS');
  });

  it('answers OPTIONS with the allowed methods, and 405 for the others with Allow', async () => {
    const options = await request('/keys/12', { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, PUT, DELETE, HEAD, OPTIONS');
    const patch = await request('/keys/12', { method: 'PATCH', headers: { 'x-api-key': key } });
    expect(patch.status).toBe(405);
    expect(patch.headers.get('allow')).toBe('GET, PUT, DELETE, HEAD, OPTIONS');
    expect(await patch.json()).toEqual({ error: 'PATCH is not allowed on /keys/12; use GET, PUT, DELETE, HEAD, OPTIONS.', code: 'METHOD_NOT_ALLOWED' });
    // A literal segment is its own resource: /keys/usage is only GET.
    expect((await request('/keys/usage', { method: 'OPTIONS' })).headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('allows the configured origins only (CORS), preflight included', async () => {
    const preflight = await request('/keys', {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-api-key');
    const actual = await request('/keys', { headers: { origin: APP, 'x-api-key': key } });
    expect(actual.headers.get('access-control-allow-origin')).toBe(APP);
    expect(actual.headers.get('vary')).toBe('Origin');
    const stranger = await request('/keys', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect((await request('/keys', { headers: { origin: 'https://evil.example', 'x-api-key': key } })).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers bad bodies clearly: invalid JSON 400, not JSON 415, not an object 400, too large 413', async () => {
    const post = (body: string, type = 'application/json') => request('/keys', { method: 'POST', headers: { 'x-api-key': key, 'content-type': type }, body });
    const broken = await post('{"name": ');
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ code: 'INVALID_JSON', error: expect.stringMatching(/^The body is not valid JSON/) });
    const form = await post('name=x', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await (await post('[1,2]')).json()).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body' });
    const huge = await post(JSON.stringify({ name: 'x'.repeat(70 * 1024) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const hugeConventions = await request('/user/settings', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70 * 1024) });
    expect(hugeConventions.status).toBe(413);
    expect(await hugeConventions.json()).toMatchObject({ message: 'error.payload_too_large', path: '/user/settings' });
  });

  it("answers unknown routes 404 in the family's format", async () => {
    const leproxy = await request('/keys/1/nope');
    expect(leproxy.status).toBe(404);
    expect(await leproxy.json()).toEqual({ error: 'No route /keys/1/nope.', code: 'NOT_FOUND' });
    const conventions = await request('/currencies/nope');
    expect(conventions.status).toBe(404);
    const body = await conventions.json();
    expect(body).toEqual({ message: 'error.not_found', path: '/currencies/nope', timestamp: expect.any(String) });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    expect((await request('/nope')).status).toBe(404);
  });

  it('serves a route with a trailing slash as the route', async () => {
    expect((await request('/keys/', { headers: { 'x-api-key': key } })).status).toBe(200);
  });
});

describe('conventions (002)', () => {
  it('GET /locales lists en, fr and uk', async () => {
    const res = await request('/locales');
    expect(await res.json()).toEqual({
      locales: [
        { code: 'en', name: 'English', nativeName: 'English' },
        { code: 'fr', name: 'French', nativeName: 'Français' },
        { code: 'uk', name: 'Ukrainian', nativeName: 'Українська' },
      ],
    });
  });

  it('GET /currencies lists the 15 documented currencies', async () => {
    expect(await (await request('/currencies')).json()).toEqual({
      currencies: ['USD', 'EUR', 'GBP', 'PLN', 'CZK', 'HUF', 'RON', 'SEK', 'NOK', 'DKK', 'CHF', 'HRK', 'BGN', 'UAH', 'TRY'],
    });
  });

  it('GET /currencies/rates converts from USD or another base, from the table an admin sets', async () => {
    const usd = await (await request('/currencies/rates')).json();
    expect(usd.base).toBe('USD');
    expect(Object.keys(usd.rates)).toHaveLength(15);
    expect(usd.rates.USD).toBe(1);
    expect(typeof usd.rates.EUR).toBe('number');

    const admin = await adminUser(server, smtp);
    const set = await server.ok(SetExchangeRate, { currency: 'eur', rate: '0.8' }, { token: admin.accessToken });
    expect(set.setExchangeRate).toMatchObject({ data: { currency: 'EUR', rate: '0.8', source: 'manual' } });
    await server.ok(SetExchangeRate, { currency: 'UAH', rate: '40' }, { token: admin.accessToken });
    const refused = await server.gql(SetExchangeRate, { currency: 'EUR', rate: '1' }, { token: user.accessToken });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const usdRate = await server.ok(SetExchangeRate, { currency: 'USD', rate: '2' }, { token: admin.accessToken });
    expect(usdRate.setExchangeRate).toMatchObject({ code: 'BAD_USER_INPUT' });

    const eur = await (await request('/currencies/rates?base=eur')).json();
    expect(eur.base).toBe('EUR');
    expect(eur.rates).toMatchObject({ EUR: 1, USD: 1.25, UAH: 50 });
  });

  it('GET /currencies/rates refuses an unknown base with 400 currency.invalid_base', async () => {
    const res = await request('/currencies/rates?base=XYZ');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ message: 'currency.invalid_base', path: '/currencies/rates', timestamp: expect.any(String), field: 'base' });
  });

  it('PATCH /user/settings sets the display currency of the caller', async () => {
    const res = await request('/user/settings', { method: 'PATCH', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify({ currency: 'uah' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ settings: { currency: 'UAH', locale: 'en' } });
    expect((await server.ok(ProfileLocale, {}, { apiKey: key })).me.user.displayCurrency).toBe('UAH');

    const bad = await request('/user/settings', { method: 'PATCH', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify({ currency: 'XYZ' }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: 'currency.invalid', path: '/user/settings', field: 'currency' });
    const anonymous = await request('/user/settings', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"currency":"EUR"}' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ message: 'auth.unauthorized', path: '/user/settings' });
  });

  it('reads fp-locale for mails and stores a supported one on the profile when it differs', async () => {
    const username = uniqueName();
    const email = `${username}@example.test`;
    await request('/auth/register', { method: 'POST', headers: { 'content-type': 'application/json', 'fp-locale': 'uk' }, body: JSON.stringify({ username, email, password: 'correct horse 42' }) });
    expect((await smtp.waitFor(email, /./)).subject).toBe('Підтвердьте email');

    const other = await verifiedUser(server, smtp);
    const otherKey = (await createKeyOk(server, other)).key;
    const localeOf = async () => (await server.ok(ProfileLocale, {}, { apiKey: otherKey })).me.user.locale;
    const eventually = async (want: string) => {
      for (let i = 0; i < 50 && (await localeOf()) !== want; i++) await new Promise((r) => setTimeout(r, 20));
      return localeOf();
    };
    // Signed-out mails follow the header too, whatever the profile says.
    await request('/auth/forgot-password', { method: 'POST', headers: { 'content-type': 'application/json', 'fp-locale': 'uk' }, body: JSON.stringify({ email: other.email }) });
    expect((await smtp.waitFor(other.email, /./)).subject).toBe('Скидання пароля');
    await request('/usage', { headers: { 'x-api-key': otherKey, 'fp-locale': 'fr' } });
    expect(await eventually('fr')).toBe('fr');
    await request('/usage', { headers: { 'x-api-key': otherKey, 'fp-locale': 'de' } });
    await request('/usage', { headers: { 'x-api-key': otherKey } });
    expect(await localeOf()).toBe('fr');
    await request('/usage', { headers: { 'x-api-key': otherKey, 'fp-locale': 'en' } });
    expect(await eventually('en')).toBe('en');
    expect((await server.ok(Me, {}, { apiKey: otherKey })).me.user.email).toBe(other.email);
  });
});
