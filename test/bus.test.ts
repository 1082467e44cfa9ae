import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { REDIS_SERVER, redisClient, redisPrefix, startThrowawayRedis, type ThrowawayRedis } from './helpers/redis.js';
import { RevokeKey } from './helpers/operations.js';
import { rawConnect } from './socks/helpers.js';
import { encodeCredentials, encodeGreeting, Method } from '../src/socks/protocol.js';
import { prisma } from '../src/db.js';
import { bus } from '../src/bus.js';

// A private redis-server per file: this file kills and restarts it.
const hasRedisServer = existsSync(REDIS_SERVER);
if (!hasRedisServer) console.warn(`Redis bus tests skipped: ${REDIS_SERVER} is not installed`);
let redis: ThrowawayRedis;
let smtp: TestSmtp;
let server: TestServer;
let user: TestUser;
const prefix = redisPrefix();
const channel = `${prefix}bus`;

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyz = async () => {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, string> };
};

/** The RFC 1929 status the shared SOCKS5 port answers for this key (0: accepted). */
async function socksAuthStatus(key: string): Promise<number> {
  const client = await rawConnect(server.socks.shared!);
  client.write(encodeGreeting([Method.UserPass]));
  await client.read(2);
  client.write(encodeCredentials(key, ''));
  const status = (await client.read(2))[1]!;
  client.socket.destroy();
  return status;
}

/** Listens to the bus channel of this server's prefix as another instance would. */
async function observe(url = redis.url): Promise<{ client: Redis; messages: { o: string; c: string; p: Record<string, unknown> }[] }> {
  const client = redisClient(url);
  await client.connect();
  const messages: { o: string; c: string; p: Record<string, unknown> }[] = [];
  client.on('message', (from: string, message: string) => {
    if (from === channel) messages.push(JSON.parse(message));
  });
  await client.subscribe(channel);
  return { client, messages };
}

/** What another instance does when it revokes a key: the database write, then the event. */
async function revokeElsewhere(apiKeyId: number, viaPrefix = prefix): Promise<void> {
  const row = await prisma.apiKey.update({ where: { id: apiKeyId }, data: { active: false, revokedAt: new Date() } });
  const publisher = redisClient(redis.url);
  await publisher.connect();
  const event = { apiKeyId, userId: row.userId, change: 'revoked', retiredHashes: [row.hash] };
  await publisher.publish(`${viaPrefix}bus`, JSON.stringify({ o: 'another-instance', c: 'key:changed', p: event }));
  publisher.disconnect();
}

describe.skipIf(!hasRedisServer)('event bus on Redis (REDIS_URL, REDIS_PREFIX)', () => {
  beforeAll(async () => {
    redis = await startThrowawayRedis();
    smtp = await startSmtp();
    server = await startServer({ SMTP_URL: smtp.url, REDIS_URL: redis.url, REDIS_PREFIX: prefix }, { socks: true });
    user = await verifiedUser(server, smtp);
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
    await redis?.kill();
  });

  it('reports Redis in /readyz', async () => {
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok', socks: 'running' } });
  });

  it("publishes this instance's events on the prefix's channel as JSON", async () => {
    const { client, messages } = await observe();
    try {
      const created = await createKeyOk(server, user);
      const seen = await until(async () => messages, (m) => m.some((x) => x.c === 'key:changed'), 2000);
      expect(seen.find((x) => x.c === 'key:changed')).toEqual({
        o: expect.any(String),
        c: 'key:changed',
        p: { apiKeyId: Number(created.apiKey.id), userId: Number(user.id), change: 'created', retiredHashes: [] },
      });
    } finally {
      client.disconnect();
    }
  });

  it("acts on another instance's events under the same prefix only", async () => {
    const { key, apiKey } = await createKeyOk(server, user);
    expect(await socksAuthStatus(key)).toBe(0);
    await revokeElsewhere(Number(apiKey.id), redisPrefix());
    await new Promise((r) => setTimeout(r, 300));
    // Another deployment's event (other prefix) is not heard: the key is still cached as active.
    expect(await socksAuthStatus(key)).toBe(0);
    await prisma.apiKey.update({ where: { id: Number(apiKey.id) }, data: { active: true, revokedAt: null } });
    const revokedAt = Date.now();
    await revokeElsewhere(Number(apiKey.id));
    expect(await until(() => socksAuthStatus(key), (s) => s !== 0, 1000)).not.toBe(0);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });

  it('survives a Redis outage: /readyz says 503, the API keeps working, and after the restart state is re-synchronised and events flow again', async () => {
    const missed = await createKeyOk(server, user);
    const local = await createKeyOk(server, user);
    expect(await socksAuthStatus(missed.key)).toBe(0);

    await redis.kill();
    const down = await until(readyz, (r) => r.status === 503, 5000);
    expect(down).toEqual({ status: 503, body: { status: 'unavailable', database: 'ok', redis: 'unreachable', socks: 'running' } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // Writes go on (their events cannot be shared, which must not fail them), and this
    // instance hears its own events without Redis.
    const during = await createKeyOk(server, user);
    expect(await socksAuthStatus(during.key)).toBe(0);
    await server.ok(RevokeKey, { id: local.apiKey.id }, { token: user.accessToken });
    expect(await socksAuthStatus(local.key)).not.toBe(0);
    // A revocation on another instance while Redis is down: its event is lost.
    await prisma.apiKey.update({ where: { id: Number(missed.apiKey.id) }, data: { active: false, revokedAt: new Date() } });
    expect(await socksAuthStatus(missed.key)).toBe(0);

    await redis.restart();
    const up = await until(readyz, (r) => r.status === 200, 10_000);
    expect(up).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok', socks: 'running' } });
    // Re-synchronised from the database: the key revoked elsewhere stopped working.
    expect(await until(() => socksAuthStatus(missed.key), (s) => s !== 0, 2000)).not.toBe(0);
    expect(await socksAuthStatus(during.key)).toBe(0);

    // Events flow both ways again.
    const { client, messages } = await observe();
    try {
      await createKeyOk(server, user);
      expect(await until(async () => messages.length, (n) => n > 0, 2000)).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
    await revokeElsewhere(Number(during.apiKey.id));
    expect(await until(() => socksAuthStatus(during.key), (s) => s !== 0, 1000)).not.toBe(0);
  }, 40_000);

  it('starts while Redis is unreachable, unready until Redis answers', async () => {
    const late = await startThrowawayRedis();
    await late.kill();
    const other = await startServer({ REDIS_URL: late.url, REDIS_PREFIX: redisPrefix() });
    try {
      const res = await fetch(`${other.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', database: 'ok', redis: 'unreachable' });
      await late.restart();
      const deadline = Date.now() + 10_000;
      let status = 503;
      while (status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await fetch(`${other.url}/readyz`)).status;
      }
      expect(status).toBe(200);
    } finally {
      await other.stop();
      await late.kill();
    }
  }, 60_000);
});

describe('event bus in memory', () => {
  it('hands listeners the payload as JSON would carry it, and drops (without throwing) one JSON cannot carry', async () => {
    const events = bus.subscribe('pricing:changed')[Symbol.asyncIterator]();
    const first = events.next();
    const sent = { userId: 7, at: new Date(0) } as unknown as { userId: number };
    bus.publish('pricing:changed', sent);
    expect((await first).value).toEqual({ userId: 7, at: '1970-01-01T00:00:00.000Z' });

    const second = events.next();
    expect(() => bus.publish('pricing:changed', { userId: 10n } as unknown as { userId: number })).not.toThrow();
    bus.publish('pricing:changed', { userId: 8 });
    expect((await second).value).toEqual({ userId: 8 });
    await events.return?.();
  });
});
