import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/** The configuration contract of ARCHITECTURE.md, parsed once. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** Prepended to every Redis key and channel, so deployments sharing one Redis stay apart. */
  redisPrefix: string;
  appSecret: string;
  smtpUrl: string | undefined;
  publicUrl: string;
  socksSharedPort: number;
  socksDedicatedPort: number;
  egressAllow: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Origins whose browsers may call the REST API (`*`: any); empty: same origin only. */
  corsOrigins: string[];
  rateLimit: {
    /** Requests per window per key (per IP without one) on REST routes; 0 disables. */
    perKey: number;
    /** Requests per window per IP on log-in, registration and password routes; 0 disables. */
    auth: number;
    windowMs: number;
  };
  /** A JSON feed of USD exchange rates (`{ "base": "USD", "rates": { "EUR": 0.92 } }`) read when the table is older than `exchangeRatesRefreshMs`. */
  exchangeRatesUrl: string | undefined;
  exchangeRatesRefreshMs: number;
  /** Proxies in front of Relais whose X-Forwarded-For entries are trusted for the client address (0: none). */
  trustProxy: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, detail: string) {
    super(`Invalid configuration: ${variable} ${detail}`);
  }
}

const port = (allowZero: boolean) =>
  z.coerce
    .number({ error: 'must be a port number' })
    .int('must be an integer')
    .min(allowZero ? 0 : 1, `must be between ${allowZero ? 0 : 1} and 65535`)
    .max(65535, `must be between ${allowZero ? 0 : 1} and 65535`);

const url = (protocols: string[]) =>
  z
    .string()
    .refine((value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    }, `must be a URL (${protocols.join(' or ')})`);

const cidr = z.string().refine((value) => {
  const [address, bits, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  if (!family || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}, 'must be a comma-separated list of CIDRs (e.g. 127.0.0.0/8,::1/128)');

const count = z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be 0 or more');

const schema = z.object({
  PORT: port(true).default(4000),
  HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  DATA_DIR: z.string().min(1, 'must not be empty').default('./data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  REDIS_PREFIX: z.string().max(100, 'must be at most 100 characters').regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').default('relais:'),
  APP_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  PUBLIC_URL: url(['http:', 'https:']).default('http://localhost:4000'),
  SOCKS_SHARED_PORT: port(true).default(1080),
  SOCKS_DEDICATED_PORT: port(true).default(1081),
  EGRESS_ALLOW: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(cidr)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean))
    .pipe(
      z.array(
        z.string().refine((o) => {
          if (o === '*') return true;
          try {
            const url = new URL(o);
            return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === o;
          } catch {
            return false;
          }
        }, 'must be * or a comma-separated list of origins (https://app.example.com)'),
      ),
    ),
  RATE_LIMIT: count.default(60),
  AUTH_RATE_LIMIT: count.default(5),
  EXCHANGE_RATES_URL: url(['http:', 'https:']).optional(),
  EXCHANGE_RATES_REFRESH: z.coerce.number({ error: 'must be a number of minutes' }).int('must be an integer').min(1, 'must be at least 1 minute').max(10_080, 'must be at most 10080 minutes (a week)').default(60),
  TRUST_PROXY: count.max(10, 'must be at most 10').default(0),
  RATE_LIMIT_WINDOW: z.coerce.number({ error: 'must be a number of seconds' }).int('must be an integer').min(1, 'must be at least 1 second').max(86_400, 'must be at most 86400 seconds').default(60),
});

/**
 * Parses the environment. Empty strings count as unset, so `FOO= relais serve` falls back
 * to the default. Throws a ConfigError naming the first bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0]), issue.message);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    appSecret: e.APP_SECRET ?? persistedSecret(dataDir),
    smtpUrl: e.SMTP_URL,
    publicUrl: e.PUBLIC_URL.replace(/\/$/, ''),
    socksSharedPort: e.SOCKS_SHARED_PORT,
    socksDedicatedPort: e.SOCKS_DEDICATED_PORT,
    egressAllow: e.EGRESS_ALLOW,
    logLevel: e.LOG_LEVEL,
    corsOrigins: e.CORS_ORIGINS,
    rateLimit: { perKey: e.RATE_LIMIT, auth: e.AUTH_RATE_LIMIT, windowMs: e.RATE_LIMIT_WINDOW * 1000 },
    trustProxy: e.TRUST_PROXY,
    exchangeRatesUrl: e.EXCHANGE_RATES_URL,
    exchangeRatesRefreshMs: e.EXCHANGE_RATES_REFRESH * 60_000,
  };
}

/** APP_SECRET generated once into DATA_DIR and reused on every later start. */
function persistedSecret(dataDir: string): string {
  const file = path.join(dataDir, 'app-secret');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length >= 32) return secret;
    throw new ConfigError('APP_SECRET', `in ${file} is shorter than 32 characters`);
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  // 'wx' fails if another process wrote it first; then read theirs.
  try {
    writeFileSync(file, secret + '\n', { flag: 'wx', mode: 0o600 });
    return secret;
  } catch {
    return readFileSync(file, 'utf8').trim();
  }
}
