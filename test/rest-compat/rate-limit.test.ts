import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { createKeyOk, verifiedUser } from '../helpers/fixtures.js';
import { redisPrefix } from '../helpers/redis.js';

let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp?.stop();
});

const login = (server: TestServer, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email: 'nobody@example.test', password: 'wrong password' }),
  });

/** Each test owns its server: the process has one database client, so servers run one at a time (except two sharing Redis). */
async function withServer<T>(env: Record<string, string>, run: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startServer({ SMTP_URL: smtp.url, ...env });
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

describe('rate limits (defaults: 60 per minute per key or IP, 5 per minute per IP on auth routes)', () => {
  it('allows exactly 5 log-ins per minute per IP, then 429 with Retry-After, and 60 requests per key or per IP', async () => {
    await withServer({}, async (server) => {
      for (let i = 0; i < 5; i++) expect((await login(server)).status).toBe(401);
      const limited = await login(server);
      expect(limited.status).toBe(429);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(await limited.json()).toEqual({ error: `Too many requests; retry in ${retryAfter} s.`, code: 'RATE_LIMITED' });
      // Without TRUST_PROXY a forwarded address is not believed.
      expect((await login(server, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(429);
      // Registration and password routes share the auth budget of the address.
      const register = await fetch(`${server.url}/auth/forgot-password`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"a@example.test"}' });
      expect(register.status).toBe(429);

      const user = await verifiedUser(server, smtp);
      const [a, b] = [(await createKeyOk(server, user)).key, (await createKeyOk(server, user)).key];
      for (let i = 0; i < 60; i++) expect((await fetch(`${server.url}/usage`, { headers: { 'x-api-key': a } })).status).toBe(200);
      const keyLimited = await fetch(`${server.url}/usage?apikey=${a}`);
      expect(keyLimited.status).toBe(429);
      expect(keyLimited.headers.get('retry-after')).toBeTruthy();
      expect((await fetch(`${server.url}/usage`, { headers: { authorization: `Bearer ${b}` } })).status).toBe(200);

      // Without a key, per IP: the 8 auth requests above already count.
      for (let i = 0; i < 52; i++) expect((await fetch(`${server.url}/currencies`)).status).toBe(200);
      const ipLimited = await fetch(`${server.url}/currencies`);
      expect(ipLimited.status).toBe(429);
      expect(await ipLimited.json()).toEqual({ message: 'error.rate_limit', path: '/currencies', timestamp: expect.any(String) });
      // An invented key counts against the address, so it does not escape the limit.
      expect((await fetch(`${server.url}/currencies`, { headers: { 'x-api-key': `lpf_${'0'.repeat(32)}` } })).status).toBe(429);
      // Health and GraphQL are not REST routes.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      // With no CORS_ORIGINS, browsers of other origins get no CORS headers.
      const cors = await fetch(`${server.url}/keys`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
      expect(cors.status).toBe(204);
      expect(cors.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('opens a new window when the last one ends, and counts per client behind a trusted proxy', async () => {
    await withServer({ RATE_LIMIT_WINDOW: '1', AUTH_RATE_LIMIT: '2', TRUST_PROXY: '1' }, async (server) => {
      const [one, two] = [{ 'x-forwarded-for': '198.51.100.1, 203.0.113.1' }, { 'x-forwarded-for': '203.0.113.2' }];
      expect((await login(server, one)).status).toBe(401);
      expect((await login(server, one)).status).toBe(401);
      expect((await login(server, one)).status).toBe(429);
      expect((await login(server, two)).status).toBe(401);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await login(server)).status).toBe(401);
      expect((await login(server)).status).toBe(401);
      const limited = await login(server);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('1');
      await new Promise((r) => setTimeout(r, 1100));
      expect((await login(server)).status).toBe(401);
    });
  });
});

describe('rate limits in Redis', () => {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redis: Redis | null = null;

  beforeAll(async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      redis = client;
    } catch {
      client.disconnect();
    }
  });
  afterAll(() => redis?.disconnect());

  it('shares the counters between instances when REDIS_URL is set', async (ctx) => {
    if (!redis) return ctx.skip();
    // The two servers share a prefix no other test uses, so parallel files do not count each other.
    const prefix = redisPrefix();
    const a = await startServer({ SMTP_URL: smtp.url, REDIS_URL: url, REDIS_PREFIX: prefix });
    const b = await startServer({ SMTP_URL: smtp.url, REDIS_URL: url, REDIS_PREFIX: prefix });
    try {
      for (const server of [a, a, a, b, b]) expect((await login(server)).status).toBe(401);
      expect((await login(a)).status).toBe(429);
      expect((await login(b)).status).toBe(429);
      expect(Number(await redis.pttl(`${prefix}ratelimit:auth:127.0.0.1`))).toBeGreaterThan(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
