/**
 * `npm run bench:socks`: Relais's SOCKS5 proxy on loopback against direct connections, the
 * same server code without metering, a plain Node relay and two established C servers.
 *
 *   npm run bench:socks                  1 GiB stream, 10 s rate tests, medians of 3 runs
 *   BENCH_QUICK=1 npm run bench:socks    256 MiB, 3 s, 1 run: a fast check
 *
 * Environment: BENCH_RUNS=N (runs, medians reported), BENCH_ONLY=relais,core,plain,dante,microsocks
 * (a subset; direct and relais always run; `coreworker`, only when named, adds the core in a
 * worker thread as the app runs it), BENCH_PROFILE=relais,core,plain (run those servers
 * under `node --cpu-prof` and print where their time went during the stream and rate tests;
 * profiling slows them, so take figures from runs without it), BENCH_NO_INSTALL=1 (never
 * apt-get dante-server/microsocks; skip what is missing), BENCH_NODE_FLAGS='--trace-gc-nvp' (extra
 * flags for the Node servers), BENCH_CHILD_LOG=DIR (every server's output, one file each, and
 * the rate tests' start and end in phases.log, lines prefixed with Date.now()), BENCH_PAIRS=N
 * (rounds of back-to-back 3-s rate tests of the Node servers after the runs; default 10, 0 with
 * BENCH_QUICK), BENCH_PIN=1 (servers on one CPU, clients on the other).
 *
 * What runs, each in its own process so that /proc gives each server's CPU time:
 * - origin and load generator: bench/socksbench.c, compiled here with gcc. The origin serves
 *   `GET /<bytes>` over HTTP and echo; the load generator runs 50 clients doing connect,
 *   greeting, username/password auth, CONNECT, 16-byte echo, close, from 127.0.N.2–9;
 * - the one stream: curl through each proxy (socks5h), to /dev/null;
 * - "relais": the product, `node bin/relais.mjs serve` over an embedded database in a temp
 *   DATA_DIR, with a customer registered, verified, credited and given an API key through
 *   GraphQL: its SOCKS username is the key, so the real gate admits it and every chunk is
 *   charged (flush every second). The balance is checked at the end;
 * - "relais core": bench/relais-core.ts, the same src/socks server with a gate that charges
 *   nothing; "plain relay": bench/plain-relay.ts, net + pipe;
 * - dante-server and microsocks from Debian (installed with apt-get when root, else skipped).
 * Last, in this process: the key check, `gate.authorize()` for a cached key, timed call by call.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, appendFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { summarizeProfile } from './cpuprofile-top.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || (QUICK ? 1 : 3));
const STREAM_BYTES = (QUICK ? 256 : 1024) * 2 ** 20;
const RATE_SECONDS = QUICK ? 3 : 10;
/** A short run with one client: connect latency without queueing, as in BENCHMARKS.md. */
const SINGLE_SECONDS = QUICK ? 1 : 2;
const CONCURRENCY = 50;
/** Count bound of each load run, beside its time bound (direct does 13k–26k cycles/s). */
const MAX_CYCLES = 2_000_000;
/** Pause between tests: lets the servers settle (GC, closing sockets) before the next one. */
const SETTLE_MS = QUICK ? 1000 : 2000;
/**
 * BENCH_PAIRS=N: after the runs, N rounds of short rate tests of the Node servers back to back
 * (default 10; 0 with BENCH_QUICK). The host's load drifts over minutes, so servers measured
 * seconds apart compare far more steadily than servers a run apart; the 5 % verdict per
 * connection takes the median of the rounds' ratios.
 */
const PAIRS = Math.max(0, Number(process.env.BENCH_PAIRS ?? (QUICK ? 0 : 10)) || 0);
const PAIR_SECONDS = 3;
const PAIR_SETTLE_MS = 1000;
const KEY_CHECKS = 100_000;
const PROFILE = new Set((process.env.BENCH_PROFILE ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const INSTALL = process.env.BENCH_NO_INSTALL !== '1';
/**
 * BENCH_PIN=1: each server on CPU 0, the load generator, origin and curl on CPU 1 (taskset).
 * Figures then vary far less between runs on a shared machine, but every server (microsocks's
 * threads, dante's processes included) has one core.
 */
const PIN = process.env.BENCH_PIN === '1';
const SERVER_CPU = 0;
const CLIENT_CPU = 1;
const onCpu = (cpu: number, command: string, args: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
/** BENCH_ONLY=core: measure only these beside direct (the ceiling) and relais, e.g. for a profiling run. */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const CHILD_LOG = process.env.BENCH_CHILD_LOG;
const childLog = (file: string, line: string) => CHILD_LOG && appendFileSync(path.join(CHILD_LOG, file), `${Date.now()} ${line}\n`);
const wanted = (id: string) => ONLY.size === 0 || ONLY.has(id) || id === 'direct';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
const run = promisify(execFile);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'relais-bench-'));
const children = new Set<Child>();
const cleanups: (() => void)[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) cleanup();
  rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

const say = (line: string) => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/**
 * A server started by the bench, leader of its own process group: its CPU time is the sum
 * over the group (dante forks helpers), and stopping it signals the whole group.
 */
class Child {
  readonly proc: ChildProcess;
  /** Recent output lines, stdout and stderr. */
  readonly lines: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  readonly exited: Promise<number | null>;
  private stopping = false;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; ipc?: boolean; cpu?: number } = {},
  ) {
    [command, args] = onCpu(options.cpu ?? SERVER_CPU, command, args);
    this.proc = spawn(command, args, {
      cwd: ROOT,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? (['ipc'] as const) : [])],
    });
    children.add(this);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    void this.exited.then((code) => {
      children.delete(this);
      if (!this.stopping) say(`!! ${name} exited unexpectedly (${code ?? this.proc.signalCode}); last output:\n${this.lines.slice(-15).join('\n')}`);
    });
    for (const stream of [this.proc.stdout!, this.proc.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        const parts = (rest + text).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          this.lines.push(line);
          childLog(`${name.replace(/\W+/g, '_')}.log`, line);
          if (this.lines.length > 2000) this.lines.splice(0, 1000);
          for (const listener of this.listeners) listener(line);
        }
      });
    }
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Resolves with the first value `pick` returns for an output line, past or future. */
  waitFor<T>(what: string, pick: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    for (const line of this.lines) {
      const value = pick(line);
      if (value !== undefined) return Promise.resolve(value);
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (line: string) => {
        const value = pick(line);
        if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; last output:\n${this.lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      this.listeners.add(listener);
      void this.exited.then((code) => {
        if (!this.listeners.has(listener)) return;
        done();
        reject(new Error(`${this.name} exited (${code}) before ${what}; last output:\n${this.lines.slice(-20).join('\n')}`));
      });
    });
  }

  /**
   * CPU seconds, user + system: of the whole process group (reaped children included), and of
   * each of the group leader's threads (the main thread's id is the pid; Relais runs its SOCKS
   * servers in a worker thread of their own).
   */
  cpu(): CpuSnapshot {
    const fields = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      // Fields after "(comm)": state ppid pgrp … utime(14) stime cutime cstime, 1-based overall.
      const f = fields(stat);
      if (Number(f[2]) !== this.pid) continue;
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    }
    const threads = new Map<string, number>();
    try {
      for (const tid of readdirSync(`/proc/${this.pid}/task`)) {
        try {
          const f = fields(readFileSync(`/proc/${this.pid}/task/${tid}/stat`, 'utf8'));
          threads.set(tid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
        } catch {
          // thread gone meanwhile
        }
      }
    } catch {
      // exited
    }
    return { total: ticks / CLK_TCK, mainTid: String(this.pid), main: threads.get(String(this.pid)) ?? 0, threads };
  }

  kill(signal: NodeJS.Signals): void {
    this.stopping = true;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL if the group is still there after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopping = true;
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

interface CpuSnapshot {
  total: number;
  mainTid: string;
  /** The main thread. */
  main: number;
  /** Every thread of the leader by thread id, the main thread included. */
  threads: Map<string, number>;
}

const jsonLine = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on the port (bounded). */
async function waitForPort(port: number, child: Child, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode}): ${child.lines.slice(-10).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`${child.name} is not listening on ${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

const which = (command: string): string | undefined => {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    const file = path.join(dir, command);
    if (dir && existsSync(file)) return file;
  }
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// What is measured
// ---------------------------------------------------------------------------------------------

interface Target {
  id: 'direct' | 'relais' | 'core' | 'coreworker' | 'plain' | 'dante' | 'microsocks';
  label: string;
  /** 0: no proxy. */
  port: number;
  user: string;
  pass: string;
  child?: Child;
  /** When its one-stream and 50-client tests ran (CLOCK_MONOTONIC µs), to cut CPU profiles. */
  windows: { stream: [number, number][]; rate: [number, number][] };
  /** CPU spent over all runs, by thread, with the GiB streamed and the connections made. */
  split: { stream: Split; rate: Split };
}

interface Split {
  units: number;
  total: number;
  main: number;
  /** The other thread that used the most CPU in each test: Relais's SOCKS worker thread. */
  busiest: number;
}

const newTarget = (t: Omit<Target, 'windows' | 'split'>): Target => ({
  ...t,
  windows: { stream: [], rate: [] },
  split: { stream: { units: 0, total: 0, main: 0, busiest: 0 }, rate: { units: 0, total: 0, main: 0, busiest: 0 } },
});

function addSplit(split: Split, units: number, before: CpuSnapshot, after: CpuSnapshot): void {
  split.units += units;
  split.total += after.total - before.total;
  split.main += after.main - before.main;
  let busiest = 0;
  for (const [tid, used] of after.threads) {
    if (tid !== after.mainTid) busiest = Math.max(busiest, used - (before.threads.get(tid) ?? 0));
  }
  split.busiest += busiest;
}

interface Figures {
  mibps?: number;
  cpuPerGiB?: number;
  rate?: number;
  cpuMsPerConn?: number;
  p50?: number;
  p99?: number;
  singleP50?: number;
  singleRate?: number;
  errors: number;
}

interface LoadResult {
  completed: number;
  seconds: number;
  rate: number;
  connectMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  errors: Record<string, number>;
}

let loadgen = '';
let origin: { http: number; echo: number[] };
let loadRuns = 0;
/** Bytes the bench pushed through Relais (payload seen by the proxy), to compare with the charge. */
let relaisBytes = 0;

async function streamTest(t: Target): Promise<Pick<Figures, 'mibps' | 'cpuPerGiB'> & { error?: string }> {
  const maxTime = Math.ceil(STREAM_BYTES / 2 ** 20 / 20) + 30; // gives up below ~20 MiB/s
  const url = `http://127.0.0.1:${origin.http}/${STREAM_BYTES}`;
  const args = ['-sS', '--max-time', String(maxTime), '-o', '/dev/null', '-w', '%{size_download} %{time_total} %{size_request} %{size_header}'];
  if (t.port) args.push('-x', `socks5h://127.0.0.1:${t.port}`, '--proxy-user', `${t.user}:${t.pass}`);
  const cpu0 = t.child?.cpu();
  let out: string;
  try {
    out = (await run(...onCpu(CLIENT_CPU, 'curl', [...args, url]), { timeout: (maxTime + 10) * 1000 })).stdout;
  } catch (err) {
    return { error: `curl failed: ${(err as Error).message.split('\n')[0]}` };
  }
  const cpu1 = t.child?.cpu();
  const [size, seconds, requestBytes, headerBytes] = out.trim().split(' ').map(Number);
  if (size !== STREAM_BYTES) return { error: `curl got ${size} of ${STREAM_BYTES} bytes` };
  if (t.id === 'relais') relaisBytes += size! + requestBytes! + headerBytes!;
  if (cpu0) addSplit(t.split.stream, size! / 2 ** 30, cpu0, cpu1!);
  return {
    mibps: size! / 2 ** 20 / seconds!,
    cpuPerGiB: cpu0 === undefined ? undefined : (cpu1!.total - cpu0.total) / (size! / 2 ** 30),
  };
}

async function loadTest(t: Target, concurrency: number, seconds: number, split = true): Promise<{ result: LoadResult; cpuMsPerConn?: number }> {
  // Each load run gets its own client addresses and echo port, so it meets no TIME_WAIT
  // sockets left on the same address pair by an earlier run (they last 60 s and make
  // connect() search for free ports, cutting rates by a third or more). Never 127.0.0.1,
  // where the proxies' outbound sockets take their ports.
  const n = loadRuns++;
  const source = `127.0.${1 + (n % 250)}.2`; // the load generator uses .2 to .9
  const echo = origin.echo[n % origin.echo.length]!;
  const args = ['load', String(t.port), String(echo), String(concurrency), String(seconds), String(MAX_CYCLES), source, t.user, t.pass];
  const cpu0 = t.child?.cpu();
  const { stdout } = await run(...onCpu(CLIENT_CPU, loadgen, args), { timeout: (seconds + 20) * 1000 });
  const cpu1 = t.child?.cpu();
  const result = JSON.parse(stdout) as LoadResult;
  if (t.id === 'relais') relaisBytes += result.completed * 32;
  if (cpu0 && split && concurrency === CONCURRENCY) addSplit(t.split.rate, result.completed, cpu0, cpu1!);
  return { result, cpuMsPerConn: cpu0 === undefined || !result.completed ? undefined : ((cpu1!.total - cpu0.total) * 1000) / result.completed };
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function measure(t: Target): Promise<Figures> {
  const figures: Figures = { errors: 0 };
  let from = monotonicUs();
  const stream = await streamTest(t);
  t.windows.stream.push([from, monotonicUs()]);
  if (stream.error) say(`  ${t.label}: stream: ${stream.error}`);
  figures.mibps = stream.mibps;
  figures.cpuPerGiB = stream.cpuPerGiB;
  await sleep(SETTLE_MS);
  from = monotonicUs();
  childLog('phases.log', `${t.id} rate start`);
  const many = await loadTest(t, CONCURRENCY, RATE_SECONDS);
  childLog('phases.log', `${t.id} rate end, ${many.result.completed} connections`);
  t.windows.rate.push([from, monotonicUs()]);
  figures.rate = many.result.rate;
  figures.cpuMsPerConn = many.cpuMsPerConn;
  figures.p50 = many.result.connectMs.p50;
  figures.p99 = many.result.connectMs.p99;
  await sleep(SETTLE_MS);
  const one = await loadTest(t, 1, SINGLE_SECONDS);
  figures.singleP50 = one.result.connectMs.p50;
  figures.singleRate = one.result.rate;
  await sleep(SETTLE_MS);
  const errors = { ...many.result.errors };
  for (const [kind, count] of Object.entries(one.result.errors)) errors[kind] = (errors[kind] ?? 0) + count;
  figures.errors = Object.values(errors).reduce((a, b) => a + b, 0);
  if (figures.errors) say(`  ${t.label}: load errors ${JSON.stringify(errors)}`);
  return figures;
}

// ---------------------------------------------------------------------------------------------
// The servers
// ---------------------------------------------------------------------------------------------

const profileDir = path.join(tmp, 'profiles');

/** Samples of a V8 CPU profile that are not idle. */
function busySamples(file: string): number {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { id: number; callFrame: { functionName: string } }[]; samples: number[] };
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  return profile.samples.filter((id) => !idle.has(id)).length;
}
const nodeFlags = (id: string) => [...NODE_FLAGS, ...(PROFILE.has(id) ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, id)}`] : [])];

async function startOrigin(): Promise<Child> {
  const child = new Child('origin', loadgen, ['origin', '64'], { cpu: CLIENT_CPU });
  origin = await child.waitFor('ports', (line) => jsonLine(line) as typeof origin | undefined, 5000);
  return child;
}

async function startNodeServer(id: 'core' | 'coreworker' | 'plain', label: string, script: string, env: NodeJS.ProcessEnv = {}): Promise<Target> {
  const child = new Child(label, process.execPath, [...nodeFlags(id), '--import', 'tsx', script], { ipc: true, env: { ...process.env, ...env } });
  const port = await child.waitFor('port', (line) => jsonLine(line)?.port as number | undefined, 60_000);
  return newTarget({ id, label, port, user: 'bench', pass: '', child });
}

interface RelaisRun {
  target: Target;
  balance(): Promise<string>;
  pricing: string;
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

/** The union member a mutation answered, which must be `typename`. */
function expectType<T extends { __typename: string }>(result: T, typename: string, what: string): T {
  if (result.__typename !== typename) throw new Error(`${what}: ${JSON.stringify(result)}`);
  return result;
}

/**
 * The product as it runs, set up as an operator and a customer would: an administrator made
 * with the CLI before the server starts (the embedded database is single-process), then over
 * GraphQL a customer who registers, verifies the e-mail (the mail is logged without SMTP_URL),
 * is credited by the administrator, logs in and creates an API key.
 */
async function startRelais(): Promise<RelaisRun> {
  const admin = { email: 'bench-admin@example.com', password: 'bench-admin-password-1' };
  const customer = { username: 'benchcustomer', email: 'bench-customer@example.com', password: 'bench-customer-password-1' };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: path.join(tmp, 'relais-data'),
    HOST: '127.0.0.1',
    PORT: '0',
    SOCKS_SHARED_PORT: String(await freePort()),
    SOCKS_DEDICATED_PORT: String(await freePort()),
    EGRESS_ALLOW: '127.0.0.0/8',
    LOG_LEVEL: 'info', // the verification mail is logged at info
    BCRYPT_ROUNDS: '4',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'APP_SECRET', 'PUBLIC_URL']) delete env[name];

  const cli = spawnSync(process.execPath, ['bin/relais.mjs', 'admin', 'create', '--email', admin.email, '--password', admin.password], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (cli.status !== 0) throw new Error(`relais admin create failed: ${cli.stderr || cli.stdout || cli.error}`);

  const child = new Child('relais', process.execPath, [...nodeFlags('relais'), 'bin/relais.mjs', 'serve'], { env });
  const listening = await child.waitFor('"relais listening"', (line) => {
    const j = jsonLine(line);
    return j?.msg === 'relais listening' ? (j as { port: number; socks: { shared: number } }) : undefined;
  }, 180_000);
  const url = `http://127.0.0.1:${listening.port}`;

  type Typed = { __typename: string; message?: string };
  const reg = await gql<{ register: Typed }>(
    url,
    `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on Error { message } } }`,
    { input: customer },
  );
  expectType(reg.register, 'MutationRegisterSuccess', 'register');
  const token = await child.waitFor(
    'verification mail in the log',
    (line) => (line.includes(customer.email) ? line.match(/[?&]token=([A-Za-z0-9_-]+)/)?.[1] : undefined),
    30_000,
  );
  const verified = await gql<{ verifyEmail: Typed }>(url, `mutation ($t: String!) { verifyEmail(token: $t) { __typename ... on Error { message } } }`, { t: token });
  expectType(verified.verifyEmail, 'MutationVerifyEmailSuccess', 'verifyEmail');

  type LoginResult = Typed & { data?: { accessToken: string; user: { id: string } } };
  const login = async (email: string, password: string) => {
    const res = await gql<{ login: LoginResult }>(
      url,
      `mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { __typename ... on MutationLoginSuccess { data { accessToken user { id } } } ... on Error { message } } }`,
      { e: email, p: password },
    );
    return expectType(res.login, 'MutationLoginSuccess', `login ${email}`).data!;
  };
  const adminSession = await login(admin.email, admin.password);
  const session = await login(customer.email, customer.password);

  const credited = await gql<{ adjustBalance: Typed }>(
    url,
    `mutation ($u: ID!) { adjustBalance(userId: $u, amount: "100000", note: "bench") { __typename ... on Error { message } } }`,
    { u: session.user.id },
    adminSession.accessToken,
  );
  expectType(credited.adjustBalance, 'MutationAdjustBalanceSuccess', 'adjustBalance');
  const created = await gql<{ createApiKey: Typed & { data?: { key: string } } }>(
    url,
    `mutation { createApiKey(input: { name: "bench" }) { __typename ... on MutationCreateApiKeySuccess { data { key } } ... on Error { message } } }`,
    {},
    session.accessToken,
  );
  const key = expectType(created.createApiKey, 'MutationCreateApiKeySuccess', 'createApiKey').data!.key;

  // The price list and rate are only printed beside the charge: best effort.
  let pricing = 'pricing query failed';
  try {
    const p = await gql<{ pricing: { rate: string; prices: { product: string; pricePerGb: string }[] } }>(
      url,
      `{ pricing { rate prices { product pricePerGb } } }`,
      {},
      session.accessToken,
    );
    const shared = p.pricing.prices.find((x) => x.product === 'shared');
    pricing = `shared list price ${shared?.pricePerGb ?? '?'} USD/GB × rate ${p.pricing.rate}`;
  } catch (err) {
    pricing = `pricing query failed: ${(err as Error).message.slice(0, 120)}`;
  }

  return {
    target: newTarget({ id: 'relais', label: 'relais (app, metering on)', port: listening.socks.shared, user: key, pass: '', child }),
    balance: async () => (await gql<{ me: { balance: string } }>(url, `{ me { balance } }`, {}, session.accessToken)).me.balance,
    pricing,
  };
}

let aptTried = false;

/** Installs dante-server and microsocks when they are missing and we may (root, BENCH_NO_INSTALL unset). */
function ensurePackages(): string {
  if ((which('danted') && which('microsocks')) || aptTried) return '';
  aptTried = true;
  if (!INSTALL) return 'BENCH_NO_INSTALL=1';
  if (process.getuid?.() !== 0) return 'not root, cannot apt-get install';
  say('installing dante-server and microsocks with apt-get …');
  const apt = (args: string[]) =>
    spawnSync('apt-get', args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let res = apt(['install', '-y', '-q', 'dante-server', 'microsocks']);
  if (res.status !== 0) {
    apt(['update', '-q']);
    res = apt(['install', '-y', '-q', 'dante-server', 'microsocks']);
  }
  return res.status === 0 ? '' : `apt-get install failed: ${(res.stderr || String(res.error)).trim().split('\n').pop()}`;
}

const ANCHOR_USER = 'relaisbench';
const DANTE_EXTERNAL = '127.0.0.3';
const ANCHOR_PASS = 'bench-anchor-pass';

async function startDante(): Promise<Target | string> {
  const why = ensurePackages();
  const danted = which('danted');
  if (!danted) return `danted not found${why ? ` (${why})` : ''}`;
  if (process.getuid?.() !== 0) return 'dante authenticates system users and must read /etc/shadow: run as root';
  // dante checks username/password against the system's users. The hash must be a fast one
  // (md5crypt): with Debian's default yescrypt, dante manages ~35 connections/s.
  if (spawnSync('id', [ANCHOR_USER]).status !== 0) {
    const add = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ANCHOR_USER], { encoding: 'utf8' });
    if (add.status !== 0) return `useradd failed: ${add.stderr.trim()}`;
    cleanups.push(() => void spawnSync('userdel', [ANCHOR_USER]));
  }
  const hash = execFileSync('openssl', ['passwd', '-1', ANCHOR_PASS], { encoding: 'utf8' }).trim();
  const chpasswd = spawnSync('chpasswd', ['-e'], { input: `${ANCHOR_USER}:${hash}\n`, encoding: 'utf8' });
  if (chpasswd.status !== 0) return `chpasswd failed: ${chpasswd.stderr.trim()}`;

  const port = await freePort();
  const conf = path.join(tmp, 'danted.conf');
  // dante binds each outbound socket to its external address before connecting, so bind()
  // must find a port that no socket on that address holds, TIME_WAIT ones included. On
  // 127.0.0.1, after the Node relays' rate tests, that search takes milliseconds and fails
  // now and then (REP 1). An address of its own keeps dante clear of the others' leftovers.
  writeFileSync(
    conf,
    `logoutput: ${path.join(tmp, 'danted.log')}
internal: 127.0.0.1 port = ${port}
external: ${DANTE_EXTERNAL}
clientmethod: none
socksmethod: username
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  socksmethod: username
  log: error
}
`,
  );
  const child = new Child('danted', danted, ['-f', conf, '-p', path.join(tmp, 'danted.pid')]);
  try {
    await waitForPort(port, child);
  } catch (err) {
    await child.stop();
    const log = existsSync(path.join(tmp, 'danted.log')) ? readFileSync(path.join(tmp, 'danted.log'), 'utf8').trim().split('\n')[0] : '';
    return `${(err as Error).message.trim()} ${log}`;
  }
  const version = spawnSync(danted, ['-v'], { encoding: 'utf8' }).stdout.match(/v(\d+\.\d+\.\d+)/)?.[1] ?? '';
  return newTarget({ id: 'dante', label: `dante-server ${version}`.trim(), port, user: ANCHOR_USER, pass: ANCHOR_PASS, child });
}

async function startMicrosocks(): Promise<Target | string> {
  const why = ensurePackages();
  const bin = which('microsocks');
  if (!bin) return `microsocks not found${why ? ` (${why})` : ''}`;
  const port = await freePort();
  const child = new Child('microsocks', bin, ['-i', '127.0.0.1', '-p', String(port), '-u', ANCHOR_USER, '-P', ANCHOR_PASS]);
  try {
    await waitForPort(port, child);
  } catch (err) {
    await child.stop();
    return (err as Error).message;
  }
  const version = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'microsocks'], { encoding: 'utf8' }).stdout.replace(/-.*$/, '');
  return newTarget({ id: 'microsocks', label: `microsocks ${version}`.trim(), port, user: ANCHOR_USER, pass: ANCHOR_PASS, child });
}

// ---------------------------------------------------------------------------------------------
// The key check, in process
// ---------------------------------------------------------------------------------------------

interface KeyCheck {
  firstUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  meanNs: number;
  admitP50Us: number;
  admitP99Us: number;
  admitFirstMs: number;
}

const percentile = (sorted: Float64Array | number[], p: number) => sorted[Math.round(p * (sorted.length - 1))]!;

/**
 * `gate.authorize()` is on the hot path of every connection: times it call by call for a
 * cached key, and the whole admission (authorize, then the grant's async `route()`, where the
 * meter says whether credit is left). Builds the app in this process over its own database.
 */
async function keyCheck(): Promise<KeyCheck> {
  process.env.BCRYPT_ROUNDS = '4';
  const { loadConfig } = await import('../src/config.js');
  const { buildApp } = await import('../src/server.js');
  const { createAdmin } = await import('../src/modules/admin/admin.service.js');
  const { createKey } = await import('../src/modules/keys/keys.service.js');
  const { adjustBalance } = await import('../src/modules/ledger/ledger.service.js');
  const { parseMoney } = await import('../src/lib/money.js');
  const { addKeyMirror } = await import('../src/modules/keys/key-cache.js');
  const { createGate } = await import('../src/socks/gate.js');
  const { createKeyStore } = await import('../src/socks/key-store.js');
  const { createMeter } = await import('../src/socks/metering.js');
  const { proxyKeyChanges, socksStore } = await import('../src/socks/store.js');
  const { createUpstreams } = await import('../src/socks/upstreams.js');

  const dataDir = path.join(tmp, 'keycheck-data');
  mkdirSync(dataDir, { recursive: true });
  const app = await buildApp(
    loadConfig({ DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', SOCKS_SHARED_PORT: '0', SOCKS_DEDICATED_PORT: '0', LOG_LEVEL: 'silent' }),
    { ephemeralSocks: true },
  );
  const user = await createAdmin({ email: 'keycheck@example.com', password: 'keycheck-password-1' });
  await adjustBalance({ userId: user.id, amount: parseMoney('1000')!, note: 'bench', actorId: null });
  const { value } = await createKey(user.id, { name: 'bench' });
  // The gate over a mirror of the key cache, as the SOCKS worker keeps it; the store called
  // directly instead of through the main thread.
  const keys = createKeyStore();
  const mirror = addKeyMirror(async (changes) => keys.apply(proxyKeyChanges(changes)));
  keys.apply(proxyKeyChanges(mirror.snapshot));
  const meter = createMeter({ store: socksStore });
  const upstreams = createUpstreams(socksStore);
  await meter.start();
  await upstreams.start();
  const { gate } = createGate(keys, meter, upstreams);

  let t = process.hrtime.bigint();
  const first = gate.authorize(value, 'shared');
  const firstUs = Number(process.hrtime.bigint() - t) / 1e3;
  if (!first.ok) throw new Error(`the gate refused a fresh key: ${first.reason}`);

  const times = new Float64Array(KEY_CHECKS);
  const batchStart = process.hrtime.bigint();
  for (let i = 0; i < KEY_CHECKS; i++) {
    t = process.hrtime.bigint();
    const decision = gate.authorize(value, 'shared');
    times[i] = Number(process.hrtime.bigint() - t);
    if (!decision.ok) throw new Error('the gate refused the key');
  }
  const meanNs = Number(process.hrtime.bigint() - batchStart) / KEY_CHECKS;
  times.sort();

  // Whole admission: the first one loads the user's metering state from the database.
  t = process.hrtime.bigint();
  await first.grant.route();
  const admitFirstMs = Number(process.hrtime.bigint() - t) / 1e6;
  const admits = new Float64Array(KEY_CHECKS / 10);
  for (let i = 0; i < admits.length; i++) {
    t = process.hrtime.bigint();
    const decision = gate.authorize(value, 'shared');
    if (!decision.ok) throw new Error('the gate refused the key');
    await decision.grant.route();
    admits[i] = Number(process.hrtime.bigint() - t);
  }
  admits.sort();

  mirror.stop();
  upstreams.stop();
  await meter.stop();
  await app.stop().catch(() => {});
  return {
    firstUs,
    p50Us: percentile(times, 0.5) / 1e3,
    p99Us: percentile(times, 0.99) / 1e3,
    maxUs: times[times.length - 1]! / 1e3,
    meanNs,
    admitP50Us: percentile(admits, 0.5) / 1e3,
    admitP99Us: percentile(admits, 0.99) / 1e3,
    admitFirstMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const median = (values: (number | undefined)[]): number | undefined => {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

const fmt = (value: number | undefined, digits: number) =>
  value === undefined ? '–' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
const fmtRatio = (r: number | undefined) => (r === undefined ? '–' : `${r.toFixed(2)}×`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? ':' : '-').padEnd(w + 1, '-') + (i === 0 ? '-' : ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

function summarize(runs: Figures[]): Figures {
  const pick = (k: keyof Figures) => median(runs.map((r) => r[k]));
  return {
    mibps: pick('mibps'),
    cpuPerGiB: pick('cpuPerGiB'),
    rate: pick('rate'),
    cpuMsPerConn: pick('cpuMsPerConn'),
    p50: pick('p50'),
    p99: pick('p99'),
    singleP50: pick('singleP50'),
    singleRate: pick('singleRate'),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

/** Micro-USD from a Money string ("12.500000"), exactly. */
function micro(money: string): bigint {
  const negative = money.startsWith('-');
  const [int, frac = ''] = money.replace(/^-/, '').split('.');
  const value = BigInt(int!) * 1_000_000n + BigInt((frac + '000000').slice(0, 6));
  return negative ? -value : value;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  say(
    `bench:socks — ${QUICK ? 'QUICK: ' : ''}stream ${STREAM_BYTES / 2 ** 20} MiB, rate ${CONCURRENCY} clients × ${RATE_SECONDS} s, ` +
      `1 client × ${SINGLE_SECONDS} s; ${RUNS} run(s), medians; ${PIN ? 'servers pinned to CPU 0, clients to CPU 1; ' : ''}${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  loadgen = path.join(tmp, 'socksbench');
  const gcc = spawnSync('gcc', ['-O2', '-Wall', '-o', loadgen, path.join(ROOT, 'bench', 'socksbench.c')], { encoding: 'utf8' });
  if (gcc.status !== 0) throw new Error(`gcc failed (the load generator is C): ${gcc.stderr || gcc.error}`);
  if (!which('curl')) throw new Error('curl is needed for the stream test');
  const originChild = await startOrigin();

  say('starting relais (CLI admin, serve, register, verify, credit, API key) …');
  const relais = await startRelais();
  const balanceBefore = await relais.balance();

  const targets: Target[] = [newTarget({ id: 'direct', label: 'direct, no proxy', port: 0, user: '', pass: '' }), relais.target];
  if (wanted('core')) targets.push(await startNodeServer('core', 'relais core, no metering', 'bench/relais-core.ts'));
  if (ONLY.has('coreworker')) {
    targets.push(await startNodeServer('coreworker', 'relais core in a worker thread', 'bench/relais-core.ts', { BENCH_CORE_WORKER: '1' }));
  }
  if (wanted('plain')) targets.push(await startNodeServer('plain', 'plain Node relay (baseline)', 'bench/plain-relay.ts'));
  const skipped: string[] = [];
  for (const [id, name, start] of [['dante', 'dante-server', startDante], ['microsocks', 'microsocks', startMicrosocks]] as const) {
    if (!wanted(id)) continue;
    const started = await start();
    if (typeof started === 'string') skipped.push(`${name} skipped: ${started}`);
    else targets.push(started);
  }
  for (const line of skipped) say(line);

  const results = new Map<Target['id'], Figures[]>(targets.map((t) => [t.id, []]));
  for (let r = 1; r <= RUNS; r++) {
    // Each run starts one server further down the list: whatever a test leaves behind (the
    // direct rate test's ~100,000 closed connections in TIME_WAIT, the kernel's work on them)
    // does not always fall on the same next server.
    for (const t of targets.map((_, i) => targets[(i + r - 1) % targets.length]!)) {
      const f = await measure(t);
      results.get(t.id)!.push(f);
      say(
        `run ${r}/${RUNS} ${t.label.padEnd(30)} stream ${fmt(f.mibps, 0).padStart(6)} MiB/s, CPU ${fmt(f.cpuPerGiB, 2)} s/GiB | ` +
          `${fmt(f.rate, 0).padStart(6)} conn/s, CPU ${fmt(f.cpuMsPerConn, 3)} ms/conn, connect p50 ${fmt(f.p50, 2)} p99 ${fmt(f.p99, 2)} ms | ` +
          `1 client p50 ${fmt(f.singleP50, 3)} ms | load average ${os.loadavg()[0]!.toFixed(1)}`,
      );
    }
  }

  // Paired rounds: each Node server's rate test within seconds of the others', the order
  // rotating and reversing from round to round so that no server always follows another.
  const paired = targets.filter((t) => t.id === 'relais' || t.id === 'core' || t.id === 'coreworker' || t.id === 'plain');
  const rounds: Map<Target['id'], number | undefined>[] = [];
  if (PAIRS > 0 && paired.some((t) => t.id === 'plain')) {
    say('');
    say(`paired rounds: ${PAIRS} × (${paired.map((t) => t.id).join(', ')}), ${CONCURRENCY} clients × ${PAIR_SECONDS} s each, CPU ms per connection`);
    for (let r = 0; r < PAIRS; r++) {
      const order = paired.map((_, i) => paired[(i + r) % paired.length]!);
      if (r % 2 === 1) order.reverse();
      const round = new Map<Target['id'], number | undefined>();
      for (const t of order) {
        await sleep(PAIR_SETTLE_MS);
        round.set(t.id, (await loadTest(t, CONCURRENCY, PAIR_SECONDS, false)).cpuMsPerConn);
      }
      rounds.push(round);
      say(`round ${r + 1}/${PAIRS} ${order.map((t) => `${t.id} ${fmt(round.get(t.id), 3)}`).join(', ')} | load average ${os.loadavg()[0]!.toFixed(1)}`);
    }
  }

  // Metering writes every second: wait for the last flush, then read the balance.
  await sleep(2500);
  const balanceAfter = await relais.balance();
  // Background work of the idle app (metering ticks, outbox, …), measured once it is warm:
  // a floor under its CPU figures (a 10 s rate test carries ten seconds of it).
  const idle0 = relais.target.child!.cpu().total;
  await sleep(5000);
  const idleCpuPerS = (relais.target.child!.cpu().total - idle0) / 5;

  // Stopped and waited for, so that none is left a zombie once this process is gone.
  for (const t of targets) await t.child?.stop();
  await originChild.stop();
  const profiles: string[] = [];
  for (const t of targets) {
    const dir = path.join(profileDir, t.id);
    if (!PROFILE.has(t.id) || !existsSync(dir)) continue;
    // One file per thread (main, tsx's module loader, the app's SOCKS worker, …): the busiest
    // is the one that relays (the main thread's, or the app's SOCKS worker's).
    const file = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => ({ f, busy: busySamples(path.join(dir, f)) }))
      .sort((a, b) => b.busy - a.busy)[0]?.f;
    if (!file) continue;
    mkdirSync(path.join(ROOT, 'bench', '.profiles'), { recursive: true });
    const keep = path.join(ROOT, 'bench', '.profiles', `${t.id}.cpuprofile`);
    writeFileSync(keep, readFileSync(path.join(dir, file)));
    profiles.push(`${t.label} during the one-stream tests (${path.relative(ROOT, keep)})\n${summarizeProfile(keep, { windows: t.windows.stream })}`);
    profiles.push(`${t.label} during the ${CONCURRENCY}-client rate tests\n${summarizeProfile(keep, { windows: t.windows.rate })}`);
  }


  // ---- report ----
  const s = new Map(targets.map((t) => [t.id, summarize(results.get(t.id)!)]));
  const direct = s.get('direct')!;
  const plain = s.get('plain');
  const dante = s.get('dante');
  const microsocks = s.get('microsocks');
  const rel = s.get('relais')!;

  say('');
  say(`## Figures (${RUNS > 1 ? `medians of ${RUNS} runs` : '1 run'}; CPU is the server's own, user + system, from /proc)`);
  say('');
  say(
    table(
      ['server', 'stream MiB/s', 'CPU-s per GiB', 'connections/s', 'CPU-ms per conn', 'connect p50 ms', 'connect p99 ms', 'p50 at 1 client ms', 'errors'],
      targets.map((t) => {
        const f = s.get(t.id)!;
        return [t.label, fmt(f.mibps, 0), fmt(f.cpuPerGiB, 2), fmt(f.rate, 0), fmt(f.cpuMsPerConn, 3), fmt(f.p50, 2), fmt(f.p99, 2), fmt(f.singleP50, 3), String(f.errors)];
      }),
    ),
  );
  say('');
  say('## Ratios (within this run; CPU ratios: lower is better, > 1 costs more than the reference)');
  say('');
  say(
    table(
      ['server', 'stream ÷ direct', 'rate ÷ direct', 'stream ÷ dante', 'rate ÷ microsocks', 'stream ÷ baseline', 'rate ÷ baseline', 'CPU/GiB ÷ baseline', 'CPU/conn ÷ baseline', 'CPU/GiB ÷ dante', 'CPU/conn ÷ microsocks'],
      targets
        .filter((t) => t.id !== 'direct')
        .map((t) => {
          const f = s.get(t.id)!;
          return [
            t.label,
            fmtRatio(ratio(f.mibps, direct.mibps)),
            fmtRatio(ratio(f.rate, direct.rate)),
            fmtRatio(ratio(f.mibps, dante?.mibps)),
            fmtRatio(ratio(f.rate, microsocks?.rate)),
            fmtRatio(ratio(f.mibps, plain?.mibps)),
            fmtRatio(ratio(f.rate, plain?.rate)),
            fmtRatio(ratio(f.cpuPerGiB, plain?.cpuPerGiB)),
            fmtRatio(ratio(f.cpuMsPerConn, plain?.cpuMsPerConn)),
            fmtRatio(ratio(f.cpuPerGiB, dante?.cpuPerGiB)),
            fmtRatio(ratio(f.cpuMsPerConn, microsocks?.cpuMsPerConn)),
          ];
        }),
    ),
  );
  say('');
  say('## Where the Node servers spend CPU (all runs, user + kernel; busiest other thread = Relais\'s SOCKS worker thread; the rest = GC helpers, libuv pool, loader)');
  say('');
  const splitRow = (t: Target, which: 'stream' | 'rate', scale: number) => {
    const sp = t.split[which];
    const per = (v: number) => fmt(sp.units ? (v * scale) / sp.units : undefined, which === 'stream' ? 2 : 3);
    return [`${t.label}, ${which === 'stream' ? 'stream (CPU-s per GiB)' : 'rate (CPU-ms per conn)'}`, per(sp.main), per(sp.busiest), per(sp.total - sp.main - sp.busiest), per(sp.total)];
  };
  const nodeTargets = targets.filter((t) => t.id === 'relais' || t.id === 'core' || t.id === 'coreworker' || t.id === 'plain');
  say(
    table(
      ['server, test', 'main thread', 'busiest other thread', 'remaining threads', 'total'],
      [...nodeTargets.map((t) => splitRow(t, 'stream', 1)), ...nodeTargets.map((t) => splitRow(t, 'rate', 1000))],
    ),
  );
  say('');
  say(`Load generator ceiling (direct): ${fmt(direct.rate, 0)} connections/s with ${CONCURRENCY} clients; one client ${fmt(direct.singleRate, 0)}/s.`);
  say(`Idle relais app (metering ticks, flushes, jobs): ${fmt(idleCpuPerS * 1000, 1)} ms CPU per second, included in its figures.`);
  say(`Load average (1 min) at the end: ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} CPUs: other work on the machine competes with every figure.`);
  for (const line of skipped) say(line);

  say('');
  say('## Metering (relais)');
  const charged = micro(balanceBefore) - micro(balanceAfter);
  const gb = relaisBytes / 1e9;
  say(
    `balance ${balanceBefore} → ${balanceAfter} USD: charged ${(Number(charged) / 1e6).toFixed(6)} USD for ~${(relaisBytes / 2 ** 30).toFixed(3)} GiB ` +
      `(${relaisBytes.toLocaleString('en-US')} bytes counted by the bench, payload both ways) = ${gb ? (Number(charged) / 1e6 / gb).toFixed(4) : '–'} USD/GB; ${relais.pricing}.`,
  );
  if (charged <= 0n) say('WARNING: the balance did not move — metering did not charge.');

  for (const p of profiles) {
    say('');
    say(`## CPU profile: ${p}`);
  }

  // Last, since it loads the whole app into this process: a failure here (say, a module
  // another change broke) must not cost the figures above.
  say('');
  say('## Key check (in process, cached key)');
  let keys: KeyCheck | undefined;
  try {
    keys = await keyCheck();
    say(
      `gate.authorize(): p50 ${fmt(keys.p50Us, 2)} µs, p99 ${fmt(keys.p99Us, 2)} µs, max ${fmt(keys.maxUs, 1)} µs over ${KEY_CHECKS.toLocaleString('en-US')} calls ` +
        `(mean ${fmt(keys.meanNs, 0)} ns including the timer); first call for the username ${fmt(keys.firstUs, 1)} µs.`,
    );
    say(
      `authorize() + grant.route() (admission, metering state loaded): p50 ${fmt(keys.admitP50Us, 2)} µs, p99 ${fmt(keys.admitP99Us, 2)} µs; ` +
        `the first, which loads the user's metering state, ${fmt(keys.admitFirstMs, 2)} ms.`,
    );
  } catch (err) {
    say(`key check failed: ${(err as Error).message.split('\n')[0]}`);
  }
  say('');
  say('## Targets');
  const check = (ok: boolean | undefined, text: string) => say(`${ok === undefined ? 'n/a   ' : ok ? 'MET   ' : 'MISSED'}  ${text}`);
  check(
    dante ? (rel.mibps ?? 0) >= (dante.mibps ?? Infinity) : undefined,
    `one stream at least as fast as dante: relais ${fmt(rel.mibps, 0)} MiB/s vs dante ${fmt(dante?.mibps, 0)} MiB/s ` +
      `(CPU ${fmt(rel.cpuPerGiB, 2)} vs ${fmt(dante?.cpuPerGiB, 2)} s/GiB)`,
  );
  check(
    microsocks ? (rel.rate ?? 0) >= (microsocks.rate ?? Infinity) : undefined,
    `connection rate at least microsocks's: relais ${fmt(rel.rate, 0)}/s vs microsocks ${fmt(microsocks?.rate, 0)}/s ` +
      `(CPU ${fmt(rel.cpuMsPerConn, 3)} vs ${fmt(microsocks?.cpuMsPerConn, 3)} ms/conn)`,
  );
  const over = (a: number | undefined, b: number | undefined) => {
    const r = ratio(a, b);
    return r === undefined ? undefined : (r - 1) * 100;
  };
  // Each run measures every server within a couple of minutes, so the ratio of two servers
  // within a run is steadier than the ratio of their medians when the machine's load drifts;
  // the paired rounds (seconds apart) are steadier still. The verdict takes the median of the
  // per-round ratios per connection when rounds ran, else of the per-run ratios, and shows each.
  const perRun = (id: Target['id'], ref: Target['id'], key: 'cpuPerGiB' | 'cpuMsPerConn') => {
    const a = results.get(id);
    const b = results.get(ref);
    if (!a || !b) return { median: undefined, each: '–' };
    const each = a.map((f, i) => over(f[key], b[i]?.[key]));
    return { median: median(each), each: each.map((v) => `${fmt(v, 1)}`).join(', ') };
  };
  const perRound = (id: Target['id'], ref: Target['id']) => {
    const each = rounds.map((r) => over(r.get(id), r.get(ref)));
    return { median: median(each), each: each.map((v) => `${fmt(v, 1)}`).join(', ') };
  };
  const overGiB = perRun('relais', 'plain', 'cpuPerGiB');
  const byRounds = rounds.length > 0;
  const overConn = byRounds ? perRound('relais', 'plain') : perRun('relais', 'plain', 'cpuMsPerConn');
  const overConnRuns = perRun('relais', 'plain', 'cpuMsPerConn');
  const meteringRef = results.has('coreworker') ? 'coreworker' : 'core';
  const metering = byRounds ? perRound('relais', meteringRef) : perRun('relais', meteringRef, 'cpuMsPerConn');
  check(
    overGiB.median === undefined || overConn.median === undefined ? undefined : overGiB.median <= 5 && overConn.median <= 5,
    `metered relais within 5 % of the baseline relay's CPU: ${fmt(overGiB.median, 1)} % per GiB (median of the runs: ${overGiB.each}), ` +
      `${fmt(overConn.median, 1)} % per connection (median of the ${byRounds ? 'paired rounds' : 'runs'}: ${overConn.each}` +
      `${byRounds ? `; the runs: ${overConnRuns.each}` : ''}; ratio of the runs' medians ${fmt(over(rel.cpuMsPerConn, plain?.cpuMsPerConn), 1)} %)` +
      `; metering alone, relais vs ${meteringRef === 'coreworker' ? 'its core in a worker thread' : 'relais core'}: ` +
      `${fmt(perRun('relais', meteringRef, 'cpuPerGiB').median, 1)} % per GiB, ${fmt(metering.median, 1)} % per connection (${metering.each})`,
  );
  check(keys === undefined ? undefined : keys.p99Us < 1000, `key check under 1 ms p99: ${fmt(keys?.p99Us, 2)} µs (admission with route(): ${fmt(keys?.admitP99Us, 2)} µs)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
