import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgres } from './helpers/database.js';
import { graphqlClient, type GraphqlClient } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { freePort, redisPrefix, redisReachable, SHARED_REDIS_URL, startThrowawayRedis, type ThrowawayRedis } from './helpers/redis.js';
import { Me, Pricing, RevokeKey } from './helpers/operations.js';
import { rawConnect } from './socks/helpers.js';
import { encodeCredentials, encodeGreeting, Method } from '../src/socks/protocol.js';
import { costMicro } from '../src/socks/metering.js';
import { Decimal } from '../src/lib/money.js';

/**
 * Two real Relais processes (`relais serve`) on one PostgreSQL database and one Redis: what
 * one instance does must be seen by the other, as behind a load balancer.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const POSTGRES = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const hasPostgres = await postgresReachable(POSTGRES);
if (!hasPostgres) console.warn(`multi-instance test skipped: no PostgreSQL reachable at ${POSTGRES} (set TEST_DATABASE_URL)`);

interface Instance {
  name: string;
  url: string;
  socksPort: number | undefined;
  api: GraphqlClient;
  child: ChildProcess;
  /** The last lines the process printed, for failure messages. */
  output: string[];
}

const micro = (amount: string) => Number(new Decimal(amount).times(1e6).toFixed(0));

/** Runs `relais <args>` with `env` and no other environment; resolves on exit 0. */
function relais(args: string[], env: Record<string, string>, output: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['bin/relais.mjs', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      if (output.length > 200) output.shift();
    });
  }
  return child;
}

/** Starts `relais serve` and reads its ports from the "relais listening" log line. */
function serve(name: string, env: Record<string, string>): Promise<Instance> {
  const output: string[] = [];
  const child = relais(['serve'], env, output);
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`instance ${name} ${why}:\n${output.slice(-30).join('\n')}`));
    };
    const timer = setTimeout(() => fail('did not start within 90 s'), 90_000);
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: { msg?: string; port?: number; socks?: { shared?: number } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg !== 'relais listening') return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const url = `http://127.0.0.1:${entry.port}`;
      resolve({ name, url, socksPort: entry.socks?.shared, api: graphqlClient(url), child, output });
    });
  });
}

async function stopInstance(instance: Instance | undefined): Promise<void> {
  const child = instance?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function runCli(args: string[], env: Record<string, string>): Promise<void> {
  const output: string[] = [];
  const child = relais(args, env, output);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`relais ${args[0]} exited with ${code}:\n${output.join('\n')}`));
    });
  });
}

interface CurlResult {
  code: number | null;
  bytes: number;
  sizeDownload: number;
  endedAt: number;
}

/** A download through a SOCKS5 port; `bytes` is what crossed the proxy (request, headers, body). */
function curl(port: number, key: string, url: string): Promise<CurlResult> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '--max-time', '30', '-x', `socks5h://${key}@127.0.0.1:${port}`, '-w', '%{size_request} %{size_header} %{size_download}', url]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const [request, header, body] = out.trim().split(' ').map(Number);
      resolve({ code, bytes: request! + header! + body!, sizeDownload: body!, endedAt: Date.now() });
    });
  });
}

/** The RFC 1929 status a SOCKS5 port answers for this key (0: accepted). */
async function socksAuthStatus(port: number, key: string): Promise<number> {
  const client = await rawConnect(port);
  client.write(encodeGreeting([Method.UserPass]));
  await client.read(2);
  client.write(encodeCredentials(key, ''));
  const status = (await client.read(2))[1]!;
  client.socket.destroy();
  return status;
}

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface BalanceChange {
  userId: string;
  balance: string;
  transaction: { id: string; amount: string; type: string; apiKeyId: string | null };
}

describe.skipIf(!hasPostgres)('two Relais instances on one PostgreSQL and one Redis', () => {
  let smtp: TestSmtp;
  let redis: ThrowawayRedis | null = null;
  let database: { url: string; drop(): Promise<void> } | null = null;
  let origin: http.Server;
  let originUrl: string;
  let a: Instance;
  let b: Instance;
  let env: Record<string, string>;
  let user: TestUser;
  let key: string;
  let keyId: string;
  let subscriber: Client;
  const changes: BalanceChange[] = [];
  const dataDirs: string[] = [];

  beforeAll(async () => {
    smtp = await startSmtp();
    // The machine's Redis (CI starts one), namespaced by a prefix of this run; a private one otherwise.
    let redisUrl = SHARED_REDIS_URL;
    if (!(await redisReachable(redisUrl))) {
      redis = await startThrowawayRedis();
      redisUrl = redis.url;
    }
    database = await freshPostgres(POSTGRES);
    origin = http.createServer((req, res) => {
      const [, kind, n] = req.url!.split('/');
      if (kind === 'bytes') return res.end(Buffer.alloc(Number(n), 7));
      // /slow trickles 16 KiB every 50 ms for at most 20 s.
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 7)), 50);
      const stop = () => clearInterval(timer);
      setTimeout(() => (stop(), res.end()), 20_000).unref();
      res.on('close', stop);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    const dataDir = () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'relais-multi-'));
      dataDirs.push(dir);
      return dir;
    };
    env = {
      DATABASE_URL: database!.url,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: redisPrefix(),
      APP_SECRET: 'multi-instance-secret-multi-instance-0123',
      HOST: '127.0.0.1',
      PORT: '0',
      SOCKS_SHARED_PORT: '0',
      SOCKS_DEDICATED_PORT: '0',
      EGRESS_ALLOW: '127.0.0.0/8',
      SMTP_URL: smtp.url,
      LOG_LEVEL: 'info',
      RATE_LIMIT: '5',
    };
    // Started together on an empty database, as a deployment would (one migrates, the other
    // waits for it). Port 0 disables SOCKS (the configuration contract), so A's is picked here.
    const started = await Promise.allSettled([
      serve('A', { ...env, DATA_DIR: dataDir(), SOCKS_SHARED_PORT: String(await freePort()) }),
      serve('B', { ...env, DATA_DIR: dataDir(), SOCKS_SHARED_PORT: String(await freePort()) }),
    ]);
    [a, b] = started.map((r) => (r.status === 'fulfilled' ? r.value : undefined!)) as [Instance, Instance];
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    env = { ...env, DATA_DIR: dataDir() };
  }, 180_000);

  afterAll(async () => {
    await subscriber?.dispose();
    await Promise.all([stopInstance(a), stopInstance(b)]);
    origin?.closeAllConnections();
    origin?.close();
    await database?.drop();
    await redis?.kill();
    await smtp?.stop();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('both report the database and Redis ready', async () => {
    for (const instance of [a, b]) {
      const res = await fetch(`${instance.url}/readyz`);
      expect(await res.json()).toEqual({ status: 'ready', database: 'ok', redis: 'ok', socks: 'running' });
      expect(res.status).toBe(200);
    }
    expect(a.socksPort).toBeGreaterThan(0);
  });

  it('a credit made by the CLI reaches a balanceChanged subscriber on B', async () => {
    user = await verifiedUser(b.api, smtp);
    ({ key, apiKey: { id: keyId } } = await createKeyOk(b.api, user));
    subscriber = createClient({
      url: `${b.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${user.accessToken}` },
      retryAttempts: 0,
    });
    const failed = new Promise<never>((_, reject) => {
      subscriber.subscribe<{ balanceChanged: BalanceChange }>(
        { query: 'subscription { balanceChanged { userId balance transaction { id amount type apiKeyId } } }' },
        {
          next: (result) => {
            if (result.errors) reject(new Error(JSON.stringify(result.errors)));
            else changes.push(result.data!.balanceChanged);
          },
          error: (err) => reject(err instanceof Error ? err : new Error(JSON.stringify(err))),
          complete: () => {},
        },
      );
    });
    failed.catch(() => {});
    await new Promise<void>((resolve) => subscriber.on('connected', () => resolve()));
    await Promise.race([runCli(['credit', '--email', user.email, '--amount', '10', '--note', 'multi-instance test'], env), failed]);
    await Promise.race([until(() => changes, (c) => c.length > 0, 5000), failed]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ userId: user.id, transaction: { type: 'adjustment', apiKeyId: null } });
    expect(micro(changes[0]!.balance)).toBe(10_000_000);
    expect(micro(changes[0]!.transaction.amount)).toBe(10_000_000);
  }, 90_000);

  it('SOCKS5 traffic through A moves the balance the subscriber on B sees, to the exact amount', async () => {
    expect(changes.length).toBe(1);
    const pricing = await b.api.ok(Pricing, {}, { token: user.accessToken });
    const price = micro(pricing.pricing.prices.find((p) => p.product === 'shared')!.pricePerGb);
    const rate = micro(pricing.pricing.rate);

    // The key was created on B: A knows it from the bus.
    const res = await curl(a.socksPort!, key, `${originUrl}/bytes/2000000`);
    expect(res.code).toBe(0);
    expect(res.sizeDownload).toBe(2_000_000);
    const cost = costMicro(res.bytes, price, rate);
    expect(cost).toBeGreaterThan(0);

    const seen = await until(() => changes, (c) => c.length > 1 && micro(c.at(-1)!.balance) === 10_000_000 - cost, 5000);
    expect(micro(seen.at(-1)!.balance)).toBe(10_000_000 - cost);
    const consumption = seen.slice(1);
    expect(consumption.every((c) => c.transaction.type === 'consumption' && c.transaction.apiKeyId === keyId)).toBe(true);
    expect(consumption.reduce((sum, c) => sum + micro(c.transaction.amount), 0)).toBe(-cost);
    // And what B reads from the database agrees.
    expect(micro((await b.api.ok(Me, {}, { token: user.accessToken })).me.balance)).toBe(10_000_000 - cost);
  }, 30_000);

  it('shares the REST rate limit of a key between A and B', async () => {
    const usage = (instance: Instance) => fetch(`${instance.url}/usage`, { headers: { 'x-api-key': key } });
    for (const instance of [a, b, a, b, a]) expect((await usage(instance)).status).toBe(200);
    expect((await usage(b)).status).toBe(429);
    expect((await usage(a)).status).toBe(429);
  });

  it("a key's daily limit holds across instances: what A spends counts on B at once", async () => {
    const pricing = await b.api.ok(Pricing, {}, { token: user.accessToken });
    const price = micro(pricing.pricing.prices.find((p) => p.product === 'shared')!.pricePerGb);
    // A daily limit worth 1,000,000 bytes.
    const limit = costMicro(1_000_000, price, micro(pricing.pricing.rate));
    expect(limit).toBeGreaterThan(0);
    const limited = await createKeyOk(b.api, user, { name: 'Limited', dailyLimit: (limit / 1e6).toFixed(6) });
    // B meters this account already (its state is loaded before A spends).
    expect((await curl(b.socksPort!, limited.key, `${originUrl}/bytes/1000`)).code).toBe(0);
    // A spends the rest of the limit: the transfer is cut near 1,000,000 bytes.
    const spent = await curl(a.socksPort!, limited.key, `${originUrl}/bytes/5000000`);
    expect(spent.code).not.toBe(0);
    // (A may not have heard of B's first 1,000 bytes yet: that is the cross-instance lag.)
    expect(spent.bytes).toBeLessThan(1_000_000 + 1_500);
    expect(spent.bytes).toBeGreaterThan(900_000);
    // Within a flush (1 s) and a bus hop, B knows: it refuses the key (REP 2 → curl exit 97).
    const onB = await until(() => curl(b.socksPort!, limited.key, `${originUrl}/bytes/1000`), (r) => r.code === 97, 3000);
    expect(onB.code).toBe(97);
  }, 30_000);

  it('a key revoked through B stops working on A within a second: open connections are cut, new ones refused', async () => {
    expect(await socksAuthStatus(a.socksPort!, key)).toBe(0);
    const before = changes.length;
    const transfer = curl(a.socksPort!, key, `${originUrl}/slow`);
    // Traffic is flowing once A has charged some of it (seen on B).
    await until(() => changes.length, (n) => n > before, 5000);
    expect(changes.length).toBeGreaterThan(before);

    const revoke = await b.api.ok(RevokeKey, { id: keyId }, { token: user.accessToken });
    const revokedAt = Date.now();
    expect(revoke.revokeApiKey.__typename).toBe('MutationRevokeApiKeySuccess');
    const refused = await until(() => socksAuthStatus(a.socksPort!, key), (s) => s !== 0, 1000);
    const refusedAt = Date.now();
    const ended = await transfer;
    expect(refused).not.toBe(0);
    expect(refusedAt - revokedAt).toBeLessThan(1000);
    expect(ended.code).not.toBe(0);
    expect(ended.endedAt - revokedAt).toBeLessThan(1000);
  }, 30_000);
});
