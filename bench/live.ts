/**
 * `npm run bench:live`: 1,000 concurrent graphql-ws subscribers on one Relais instance, the time
 * from a ledger write to its delivery at every subscriber, and the server's memory per subscriber.
 * Target: p99 under 100 ms. Bounded: about 1½ minutes with both runs.
 *
 * - The server is the product as it runs: `node bin/relais.mjs serve` (with --inspect on a
 *   loopback port, used only to run a full GC before reading memory) on a temp DATA_DIR (PGlite),
 *   or on DATABASE_URL when set; PORT=0, the port read from the "relais listening" log line. An
 *   administrator is made with `relais admin create` before it starts (PGlite is single-process);
 *   customers register, verify the mail (logged without SMTP_URL) and log in over GraphQL.
 * - Subscribers: graphql-ws clients (the `graphql-ws` package over `ws`), one WebSocket each,
 *   spread over BENCH_LIVE_PROCS child processes (default 2) so that one client event loop does
 *   not queue 1,000 deliveries behind each other and add its own delay to the figures.
 * - Writes: `adjustBalance` by the administrator (+0.01 each), one at a time; the next starts when
 *   every subscriber got the previous one (or after 5 s). A delivery is matched to its write by
 *   (userId, balance): every write leaves a new balance.
 * - Latency, per delivery: from the ledger row's `createdAt` (set inside the write's database
 *   transaction, so at or before the commit; same host, same clock) to the moment the client
 *   process parsed the message; also from the bench sending the mutation, an upper bound that adds
 *   HTTP and GraphQL parsing. And the server's CPU time per write.
 * - Memory: after a full GC, VmRSS and RssAnon from /proc/<pid>/status and V8's heapUsed, before
 *   the clients connect and with 1,000 subscribed; the difference divided by 1,000.
 *
 * Scenarios, each on 1,000 subscribers:
 * 1. fan-out: all on one account, subscribed the way the dashboard is (balance and the ledger row:
 *    `transaction { id amount createdAt }`), so one write is delivered 1,000 times;
 * 2. the same sockets resubscribed to the balance only;
 * 3. spread: 50 accounts × 20 subscribers (each with its own account's token), writes round-robin,
 *    so each write reaches 20 subscribers while 980 others must ignore it.
 * With Redis reachable (REDIS_URL or 127.0.0.1:6379), all of it again through Redis: two instances
 * with REDIS_URL on one PostgreSQL (DATABASE_URL, or a fresh database on BENCH_POSTGRES_URL,
 * default the local server, dropped at the end), subscribers on one, writes through the other, so
 * every event goes writer → Redis → subscribers' instance (an instance hears its own events
 * without Redis). Skipped when Redis or PostgreSQL does not answer, or with BENCH_LIVE_NO_REDIS=1.
 * BENCH_LIVE_PROFILE=DIR runs the servers under `node --cpu-prof` into DIR (see bench/cpuprofile-top.ts).
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SUBSCRIBERS = 1000;
const CLIENT_PROCS = Math.min(8, Math.max(1, Number(process.env.BENCH_LIVE_PROCS) || 2));
const FANOUT_WRITES = 15;
const SPREAD_ACCOUNTS = 50;
const SPREAD_ROUNDS = 1; // writes per account
const WRITE_TIMEOUT_MS = 5000;
const CONNECT_CONCURRENCY = 100;
const TARGET_P99_MS = 100;

const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Client processes: hold subscribers, report deliveries in batches
// ---------------------------------------------------------------------------------------------

type ToClient =
  | { op: 'connect'; url: string; tokens: string[] }
  | { op: 'subscribe'; query: string }
  | { op: 'close' };
type FromClient =
  | { op: 'connected'; ok: number; failed: number; firstError?: string }
  | { op: 'subscribed' }
  | { op: 'deliveries'; items: [string, number][] }
  | { op: 'problem'; message: string }
  | { op: 'closed' };

function clientProcess(): void {
  const send = (m: FromClient) => process.send!(m);
  let clients: Client[] = [];
  let unsubscribes: (() => void)[] = [];
  let batch: [string, number][] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let problems = 0;

  const flush = () => {
    flushTimer = null;
    if (batch.length) send({ op: 'deliveries', items: batch });
    batch = [];
  };
  const problem = (message: string) => {
    if (problems++ < 5) send({ op: 'problem', message: message.slice(0, 300) });
  };

  async function connect(url: string, tokens: string[]) {
    let ok = 0;
    let failed = 0;
    let firstError: string | undefined;
    let next = 0;
    const one = (token: string) =>
      new Promise<void>((resolve) => {
        const client = createClient({
          url,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${token}` },
          lazy: false,
          retryAttempts: 0,
          onNonLazyError: (err) => {
            failed++;
            firstError ??= err instanceof Error ? err.message : JSON.stringify(err);
            resolve();
          },
          on: { connected: () => (ok++, resolve()) },
        });
        clients.push(client);
      });
    await Promise.all(
      Array.from({ length: Math.min(CONNECT_CONCURRENCY, tokens.length) }, async () => {
        while (next < tokens.length) await one(tokens[next++]!);
      }),
    );
    send({ op: 'connected', ok, failed, firstError });
  }

  function subscribe(query: string) {
    for (const u of unsubscribes) u();
    unsubscribes = clients.map((client) =>
      client.subscribe<{ balanceChanged: { userId: string; balance: string } }>(
        { query },
        {
          next: (result) => {
            const at = now();
            const change = result.data?.balanceChanged;
            if (!change) return problem(`no data: ${JSON.stringify(result.errors ?? result)}`);
            batch.push([`${change.userId}|${change.balance}`, at]);
            flushTimer ??= setTimeout(flush, 20);
          },
          error: (err) => problem(`subscription error: ${err instanceof Error ? err.message : JSON.stringify(err)}`),
          complete: () => {},
        },
      ),
    );
    send({ op: 'subscribed' });
  }

  process.on('message', (m: ToClient) => {
    if (m.op === 'connect') void connect(m.url, m.tokens);
    else if (m.op === 'subscribe') subscribe(m.query);
    else if (m.op === 'close') {
      for (const u of unsubscribes) u();
      unsubscribes = [];
      void Promise.all(clients.map((c) => c.dispose())).then(() => {
        clients = [];
        flush();
        send({ op: 'closed' });
      });
    }
  });
}

class ClientPool {
  private readonly procs: ChildProcess[] = [];
  private readonly deliveries = new Map<string, number[]>();

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const child = fork(fileURLToPath(import.meta.url), ['--clients'], { execArgv: ['--import', 'tsx'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m: FromClient) => {
        if (m.op === 'deliveries') {
          for (const [key, at] of m.items) {
            const list = this.deliveries.get(key);
            if (list) list.push(at);
            else this.deliveries.set(key, [at]);
          }
        } else if (m.op === 'problem') say(`    client: ${m.message}`);
      });
      this.procs.push(child);
    }
  }

  private all<T extends FromClient['op']>(message: (i: number) => ToClient, reply: T): Promise<Extract<FromClient, { op: T }>[]> {
    return Promise.all(
      this.procs.map(
        (child, i) =>
          new Promise<Extract<FromClient, { op: T }>>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`client process: no "${reply}" within 60 s`)), 60_000);
            const onMessage = (m: FromClient) => {
              if (m.op !== reply) return;
              clearTimeout(timer);
              child.off('message', onMessage);
              resolve(m as Extract<FromClient, { op: T }>);
            };
            child.on('message', onMessage);
            child.send(message(i));
          }),
      ),
    );
  }

  /** Opens one WebSocket per token, the tokens dealt round-robin over the processes. */
  async connect(url: string, tokens: string[]): Promise<{ ok: number; failed: number; firstError?: string }> {
    const shares = this.procs.map((_, i) => tokens.filter((_, j) => j % this.procs.length === i));
    const replies = await this.all((i) => ({ op: 'connect', url, tokens: shares[i]! }), 'connected');
    return {
      ok: replies.reduce((a, r) => a + r.ok, 0),
      failed: replies.reduce((a, r) => a + r.failed, 0),
      firstError: replies.find((r) => r.firstError)?.firstError,
    };
  }

  async subscribe(query: string): Promise<void> {
    await this.all(() => ({ op: 'subscribe', query }), 'subscribed');
  }

  async close(): Promise<void> {
    await this.all(() => ({ op: 'close' }), 'closed');
    this.deliveries.clear();
  }

  received(key: string): number[] {
    return this.deliveries.get(key) ?? [];
  }

  /** Resolves when `key` has `count` deliveries or after `ms`. */
  async waitFor(key: string, count: number, ms: number): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.received(key).length < count && Date.now() < deadline) await sleep(5);
    return this.received(key).length;
  }

  stop(): void {
    for (const p of this.procs) p.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface Server {
  url: string;
  pid: number;
  waitForLine<T>(what: string, pick: (line: string) => T | undefined, ms: number): Promise<T>;
  /** The V8 inspector's WebSocket (the server runs with --inspect on a loopback port). */
  inspector: string | null;
  stop(): Promise<void>;
}

async function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  // --inspect on an ephemeral loopback port: the memory figures run a full GC through it first.
  const profile = process.env.BENCH_LIVE_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_LIVE_PROFILE)}`] : [];
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', ...profile, 'bin/relais.mjs', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let tail = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (tail + chunk.toString('utf8')).split('\n');
    tail = parts.pop()!;
    lines.push(...parts);
    if (lines.length > 5000) lines.splice(0, lines.length - 5000);
    for (const w of waiters) w();
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

  const waitForLine: Server['waitForLine'] = (what, pick, ms) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (const line of lines) {
          const found = pick(line);
          if (found !== undefined) return done(() => resolve(found));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`relais: no ${what} within ${ms} ms\n${stderr}`))), ms);
      const done = (fn: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        fn();
      };
      waiters.add(check);
      void exited.then((code) => done(() => reject(new Error(`relais exited (${code}) before ${what}\n${stderr}`))));
      check();
    });

  const listening = await waitForLine('"relais listening" line', (line) => {
    const j = jsonLine(line);
    return j?.msg === 'relais listening' ? (j.port as number) : undefined;
  }, 120_000);
  return {
    url: `http://127.0.0.1:${listening}`,
    pid: child.pid!,
    inspector: stderr.match(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/)?.[1] ?? null,
    waitForLine,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function jsonLine(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function gql<T>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

type Typed = { __typename: string; message?: string };
function expectType<T extends Typed>(result: T, typename: string, what: string): T {
  if (result.__typename !== typename) throw new Error(`${what}: ${JSON.stringify(result)}`);
  return result;
}

interface Account {
  id: string;
  token: string;
}

async function login(url: string, email: string, password: string): Promise<Account> {
  const res = await gql<{ login: Typed & { data?: { accessToken: string; user: { id: string } } } }>(
    url,
    `mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { __typename ... on MutationLoginSuccess { data { accessToken user { id } } } ... on Error { message } } }`,
    { e: email, p: password },
  );
  const data = expectType(res.login, 'MutationLoginSuccess', `login ${email}`).data!;
  return { id: data.user.id, token: data.accessToken };
}

/** register → verification mail (read from the server's log) → verify → log in. */
async function customer(server: Server, email: string): Promise<Account> {
  const password = 'bench-customer-password-1';
  const username = email.split('@')[0]!.replace(/[^a-zA-Z0-9]/g, '');
  const reg = await gql<{ register: Typed }>(
    server.url,
    `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on Error { message } } }`,
    { input: { username, email, password } },
  );
  expectType(reg.register, 'MutationRegisterSuccess', `register ${email}`);
  const token = await server.waitForLine(
    `verification mail for ${email}`,
    (line) => (line.includes(email) ? line.match(/[?&]token=([A-Za-z0-9_-]+)/)?.[1] : undefined),
    30_000,
  );
  const verified = await gql<{ verifyEmail: Typed }>(server.url, `mutation ($t: String!) { verifyEmail(token: $t) { __typename ... on Error { message } } }`, { t: token });
  expectType(verified.verifyEmail, 'MutationVerifyEmailSuccess', `verifyEmail ${email}`);
  return login(server.url, email, password);
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

interface Memory {
  rss: number;
  anon: number;
  heapUsed: number;
}

/**
 * The server's memory after a full garbage collection (through its inspector): VmRSS and RssAnon
 * from /proc/<pid>/status, and V8's heapUsed.
 */
async function memory(server: Server): Promise<Memory> {
  let heapUsed = NaN;
  if (server.inspector) {
    const socket = new WebSocket(server.inspector);
    await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
    let id = 0;
    const call = (method: string, params: Record<string, unknown> = {}) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const mine = ++id;
        const onMessage = (data: WebSocket.RawData) => {
          const m = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
          if (m.id !== mine) return;
          socket.off('message', onMessage);
          if (m.error) reject(new Error(m.error.message));
          else resolve(m.result ?? {});
        };
        socket.on('message', onMessage);
        socket.send(JSON.stringify({ id: mine, method, params }));
      });
    try {
      await call('HeapProfiler.collectGarbage');
      const r = (await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })) as { result?: { value?: number } };
      heapUsed = r.result?.value ?? NaN;
    } finally {
      socket.close();
    }
  }
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, anon: kb('RssAnon') * 1024, heapUsed };
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

interface Write {
  key: string;
  expected: number;
  sentAt: number;
  respondedAt: number;
  createdAt: number;
}

async function write(url: string, admin: Account, userId: string, expected: number): Promise<Write> {
  const sentAt = now();
  const res = await gql<{ adjustBalance: Typed & { data?: { balanceAfter: string; createdAt: string } } }>(
    url,
    `mutation ($u: ID!) { adjustBalance(userId: $u, amount: "0.01", note: "bench:live") { __typename ... on MutationAdjustBalanceSuccess { data { balanceAfter createdAt } } ... on Error { message } } }`,
    { u: userId },
    admin.token,
  );
  const respondedAt = now();
  const data = expectType(res.adjustBalance, 'MutationAdjustBalanceSuccess', 'adjustBalance').data!;
  return { key: `${userId}|${data.balanceAfter}`, expected, sentAt, respondedAt, createdAt: Date.parse(data.createdAt) };
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN);
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'n/a');

interface Figures {
  deliveries: number;
  missing: number;
  fromCommit: number[];
  fromRequest: number[];
  roundTrip: number[];
  /** CPU time (user + system) of the subscribers' server process over the measured writes. */
  serverCpuMs: number;
  writes: number;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
function cpuMs(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function summarize(label: string, f: Figures): { p99: number } {
  const a = [...f.fromCommit].sort((x, y) => x - y);
  const b = [...f.fromRequest].sort((x, y) => x - y);
  const rt = [...f.roundTrip].sort((x, y) => x - y);
  say(`  ${label}`);
  say(`    deliveries ${f.deliveries}${f.missing ? `, MISSING ${f.missing}` : ''}`);
  say(`    ledger write (createdAt) → delivery: p50 ${ms(quantile(a, 0.5))}  p99 ${ms(quantile(a, 0.99))}  max ${ms(a[a.length - 1] ?? NaN)}`);
  say(`    mutation sent → delivery:            p50 ${ms(quantile(b, 0.5))}  p99 ${ms(quantile(b, 0.99))}  max ${ms(b[b.length - 1] ?? NaN)}`);
  say(`    adjustBalance round trip:            p50 ${ms(quantile(rt, 0.5))}  p99 ${ms(quantile(rt, 0.99))}`);
  say(`    subscribers' server CPU: ${(f.serverCpuMs / f.writes).toFixed(1)} ms per write, ${((f.serverCpuMs * 1000) / Math.max(1, f.deliveries)).toFixed(0)} µs per delivery`);
  const p99 = quantile(a, 0.99);
  say(`    target p99 < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'met' : 'NOT met'}`);
  return { p99 };
}

async function measureWrites(pool: ClientPool, server: Server, url: string, admin: Account, targets: { userId: string; subscribers: number }[]): Promise<Figures> {
  const f: Figures = { deliveries: 0, missing: 0, fromCommit: [], fromRequest: [], roundTrip: [], serverCpuMs: 0, writes: targets.length };
  const cpu0 = cpuMs(server.pid);
  for (const t of targets) {
    const w = await write(url, admin, t.userId, t.subscribers);
    const got = await pool.waitFor(w.key, w.expected, WRITE_TIMEOUT_MS);
    f.roundTrip.push(w.respondedAt - w.sentAt);
    f.missing += Math.max(0, w.expected - got);
    for (const at of pool.received(w.key)) {
      f.deliveries++;
      f.fromCommit.push(at - w.createdAt);
      f.fromRequest.push(at - w.sentAt);
    }
    await sleep(20);
  }
  f.serverCpuMs = cpuMs(server.pid) - cpu0;
  return f;
}

/** Writes until every subscriber of each account got one: their subscriptions are live. */
async function warmUp(pool: ClientPool, url: string, admin: Account, targets: { userId: string; subscribers: number }[]): Promise<void> {
  await sleep(500); // the subscribe messages are on their way; the server registers them
  for (let attempt = 1; attempt <= 5; attempt++) {
    let short = 0;
    for (const t of targets) {
      const w = await write(url, admin, t.userId, t.subscribers);
      short += t.subscribers - (await pool.waitFor(w.key, t.subscribers, 3000));
    }
    if (!short) return;
    say(`    warm-up ${attempt}: ${short} subscribers had no delivery yet`);
  }
}

const FULL = 'subscription { balanceChanged { userId balance transaction { id amount createdAt } } }';
const LEAN = 'subscription { balanceChanged { userId balance } }';

interface Setup {
  env: NodeJS.ProcessEnv;
  adminLogin: { email: string; password: string };
  /** Made by the first run on this database, reused by the next (tokens still valid). */
  accounts?: { fan: Account; spread: Account[] };
}

/** A database (DATA_DIR for PGlite, or `databaseUrl`) with an administrator made by the CLI. */
function prepare(dataDir: string, databaseUrl: string | undefined): Setup {
  const suffix = `${process.pid}${Date.now().toString(36)}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'SMTP_URL', 'PUBLIC_URL']) delete env[name];
  Object.assign(env, {
    DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    // Shared by both instances of the Redis run: a token from one is valid on the other.
    APP_SECRET: `bench-live-${suffix}-0123456789abcdef0123456789`,
    HOST: '127.0.0.1',
    PORT: '0',
    SOCKS_SHARED_PORT: '0',
    SOCKS_DEDICATED_PORT: '0',
    LOG_LEVEL: 'info', // the verification mails and the listening line are logged at info
    BCRYPT_ROUNDS: '4', // account set-up is not what is measured
    RATE_LIMIT: '0',
    AUTH_RATE_LIMIT: '0',
  });
  const adminLogin = { email: `bench-live-admin-${suffix}@example.com`, password: 'bench-admin-password-1' };
  const cli = spawnSync(process.execPath, ['bin/relais.mjs', 'admin', 'create', '--email', adminLogin.email, '--password', adminLogin.password], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (cli.status !== 0) throw new Error(`relais admin create failed: ${cli.stderr || cli.stdout || cli.error}`);
  return { env, adminLogin };
}

/**
 * One measured run: the subscribers on one instance. With `redis`, the writes go through a second
 * instance on the same database, so each event travels writer → Redis → subscribers' instance
 * (an instance hears its own events without Redis).
 */
async function run(label: string, setup: Setup, redis?: { url: string; prefix: string; writerDataDir: string }): Promise<number[]> {
  const env: NodeJS.ProcessEnv = { ...setup.env, ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix } : {}) };
  const p99s: number[] = [];
  say(`\n== ${label}: ${env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${redis ? 'bus through Redis (writes on a second instance)' : 'in-memory bus'} ==`);
  let started = Date.now();
  const server = await startServer(env);
  say(`  server up in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${server.pid})`);
  let writer: Server | null = null;
  const pool = new ClientPool(CLIENT_PROCS);
  try {
    started = Date.now();
    if (!setup.accounts) {
      const suffix = `${process.pid}${Date.now().toString(36)}`;
      const fan = await customer(server, `fan${suffix}@example.com`);
      const spread = await inBatches(Array.from({ length: SPREAD_ACCOUNTS }, (_, i) => i), 25, (i) => customer(server, `spread${i}x${suffix}@example.com`));
      setup.accounts = { fan, spread };
      say(`  accounts ready in ${((Date.now() - started) / 1000).toFixed(1)} s (1 + ${SPREAD_ACCOUNTS} customers registered and verified, 1 administrator)`);
    }
    const { fan, spread } = setup.accounts;
    // After the accounts: the verification mails are logged by whichever instance sends them.
    if (redis) {
      started = Date.now();
      writer = await startServer({ ...env, DATA_DIR: redis.writerDataDir });
      say(`  writer instance up in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${writer.pid})`);
    }
    const writeUrl = (writer ?? server).url;
    const admin = await login(writeUrl, setup.adminLogin.email, setup.adminLogin.password);

    // 1. fan-out, subscribed like the dashboard
    await sleep(2000);
    const before = await memory(server);
    let t0 = Date.now();
    const conn = await pool.connect(server.url.replace(/^http/, 'ws') + '/graphql', Array(SUBSCRIBERS).fill(fan.token));
    say(`  ${conn.ok} subscribers connected in ${Date.now() - t0} ms${conn.failed ? `, ${conn.failed} failed (${conn.firstError})` : ''} (${CLIENT_PROCS} client processes)`);
    await pool.subscribe(FULL);
    await warmUp(pool, writeUrl, admin, [{ userId: fan.id, subscribers: conn.ok }]);
    await sleep(2000);
    const after = await memory(server);
    const mib = (v: number) => (v / 2 ** 20).toFixed(1);
    const per = (a: number, b: number) => `${((b - a) / conn.ok / 1024).toFixed(1)} KiB`;
    say(`  server memory after a full GC: RSS ${mib(before.rss)} → ${mib(after.rss)} MiB, RssAnon ${mib(before.anon)} → ${mib(after.anon)} MiB, V8 heap used ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB`);
    say(`  per subscriber (socket + subscription): RSS ${per(before.rss, after.rss)}, RssAnon ${per(before.anon, after.anon)}, V8 heap ${per(before.heapUsed, after.heapUsed)}`);

    const fanTargets = Array.from({ length: FANOUT_WRITES }, () => ({ userId: fan.id, subscribers: conn.ok }));
    p99s.push(summarize(`fan-out: ${conn.ok} subscribers on one account, balance + ledger row, ${FANOUT_WRITES} writes`, await measureWrites(pool, server, writeUrl, admin, fanTargets)).p99);

    // 2. the same sockets, balance only
    await pool.subscribe(LEAN);
    await warmUp(pool, writeUrl, admin, [{ userId: fan.id, subscribers: conn.ok }]);
    p99s.push(summarize(`fan-out: ${conn.ok} subscribers on one account, balance only, ${FANOUT_WRITES} writes`, await measureWrites(pool, server, writeUrl, admin, fanTargets)).p99);
    await pool.close();

    // 3. spread over accounts
    const perAccount = SUBSCRIBERS / SPREAD_ACCOUNTS;
    const tokens = spread.flatMap((a) => Array(perAccount).fill(a.token) as string[]);
    t0 = Date.now();
    const conn2 = await pool.connect(server.url.replace(/^http/, 'ws') + '/graphql', tokens);
    say(`  ${conn2.ok} subscribers connected in ${Date.now() - t0} ms${conn2.failed ? `, ${conn2.failed} failed (${conn2.firstError})` : ''}`);
    await pool.subscribe(FULL);
    // Each account's subscribers sit in every client process (tokens dealt round-robin).
    const spreadTargets = spread.map((a) => ({ userId: a.id, subscribers: perAccount }));
    await warmUp(pool, writeUrl, admin, spreadTargets);
    const rounds = Array.from({ length: SPREAD_ROUNDS }, () => spreadTargets).flat();
    p99s.push(
      summarize(
        `spread: ${SPREAD_ACCOUNTS} accounts × ${perAccount} subscribers, balance + ledger row, ${rounds.length} writes (each to ${perAccount})`,
        await measureWrites(pool, server, writeUrl, admin, rounds),
      ).p99,
    );
    await pool.close();
  } finally {
    pool.stop();
    await writer?.stop();
    await server.stop();
  }
  return p99s;
}

/** A fresh database on the PostgreSQL server at `adminUrl`, or null when it does not answer. */
async function freshPostgres(adminUrl: string): Promise<{ url: string; drop(): Promise<void> } | null> {
  const name = `relais_bench_live_${process.pid}_${Date.now().toString(36)}`;
  const exec = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  try {
    await exec(`CREATE DATABASE ${name}`);
  } catch {
    return null;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port || 6379), u.hostname || '127.0.0.1');
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')));
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  say(`bench:live — ${SUBSCRIBERS} graphql-ws subscribers on one Relais instance (node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'relais-bench-live-'));
  const results: [string, number[]][] = [];
  let dropDatabase: (() => Promise<void>) | null = null;
  try {
    const given = process.env.DATABASE_URL;
    const setup = prepare(path.join(tmp, 'data'), given);
    results.push(['in-memory bus', await run('in-memory bus', setup)]);

    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (process.env.BENCH_LIVE_NO_REDIS === '1') say('\n(Redis run skipped: BENCH_LIVE_NO_REDIS=1)');
    else if (!(await redisReachable(redisUrl))) say(`\n(Redis run skipped: ${redisUrl} not reachable)`);
    else {
      // Two instances need a database both can open: DATABASE_URL, or a fresh one on the local
      // PostgreSQL (PGlite belongs to one process).
      let redisSetup: Setup | null = given ? setup : null;
      if (!redisSetup) {
        const fresh = await freshPostgres(process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
        if (fresh) {
          dropDatabase = fresh.drop;
          redisSetup = prepare(path.join(tmp, 'data-redis'), fresh.url);
        }
      }
      if (!redisSetup) say('\n(Redis run skipped: two instances need PostgreSQL; set DATABASE_URL or BENCH_POSTGRES_URL)');
      else {
        const redis = { url: redisUrl, prefix: `relais-bench-${process.pid}:`, writerDataDir: path.join(tmp, 'data-writer') };
        results.push(['Redis bus', await run('Redis bus', redisSetup, redis)]);
      }
    }
  } finally {
    await dropDatabase?.().catch((err: unknown) => say(`(could not drop the bench database: ${(err as Error).message})`));
    rmSync(tmp, { recursive: true, force: true });
  }
  say(`\nTarget: p99 (ledger write → delivery) < ${TARGET_P99_MS} ms on every scenario.`);
  for (const [label, p99s] of results) say(`  ${label}: p99 ${p99s.map((p) => ms(p)).join(' / ')} (fan-out full / fan-out balance only / spread)`);
  say(`Done in ${((Date.now() - started) / 1000).toFixed(0)} s.`);
}

if (process.argv.includes('--clients')) clientProcess();
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
