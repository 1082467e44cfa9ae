import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'relais-config-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('configuration', () => {
  it('has defaults that make a fresh start work', () => {
    const dataDir = tempDir();
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config).toMatchObject({
      port: 4000, host: '0.0.0.0', dataDir, databaseUrl: undefined, redisUrl: undefined, redisPrefix: 'relais:', smtpUrl: undefined,
      publicUrl: 'http://localhost:4000', socksSharedPort: 1080, socksDedicatedPort: 1081, egressAllow: [], logLevel: 'info',
      corsOrigins: [], rateLimit: { perKey: 60, auth: 5, windowMs: 60_000 }, trustProxy: 0, exchangeRatesUrl: undefined, exchangeRatesRefreshMs: 3_600_000,
    });
  });

  it('generates APP_SECRET into DATA_DIR once, privately, and reuses it', () => {
    const dataDir = tempDir();
    const first = loadConfig({ DATA_DIR: dataDir }).appSecret;
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(loadConfig({ DATA_DIR: dataDir }).appSecret).toBe(first);
    const file = path.join(dataDir, 'app-secret');
    expect(readFileSync(file, 'utf8').trim()).toBe(first);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(loadConfig({ DATA_DIR: dataDir, APP_SECRET: 'x'.repeat(40) }).appSecret).toBe('x'.repeat(40));
  });

  it('parses every variable of the contract', () => {
    const config = loadConfig({
      PORT: '8080', HOST: '127.0.0.1', DATA_DIR: tempDir(), DATABASE_URL: 'postgres://u@db:5432/relais', REDIS_URL: 'redis://cache:6379', REDIS_PREFIX: 'eu-west:relais:',
      APP_SECRET: 's'.repeat(32), SMTP_URL: 'smtp://mail:25', PUBLIC_URL: 'https://relais.example/', SOCKS_SHARED_PORT: '0',
      SOCKS_DEDICATED_PORT: '11081', EGRESS_ALLOW: '127.0.0.0/8, ::1/128,10.1.2.3', LOG_LEVEL: 'debug',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:3000/', RATE_LIMIT: '120', AUTH_RATE_LIMIT: '0', RATE_LIMIT_WINDOW: '30', TRUST_PROXY: '1',
      EXCHANGE_RATES_URL: 'https://rates.example/latest', EXCHANGE_RATES_REFRESH: '15',
    });
    expect(config).toMatchObject({
      port: 8080, host: '127.0.0.1', databaseUrl: 'postgres://u@db:5432/relais', redisUrl: 'redis://cache:6379', redisPrefix: 'eu-west:relais:', smtpUrl: 'smtp://mail:25',
      publicUrl: 'https://relais.example', socksSharedPort: 0, socksDedicatedPort: 11081, egressAllow: ['127.0.0.0/8', '::1/128', '10.1.2.3'], logLevel: 'debug',
      corsOrigins: ['https://app.example.com', 'http://localhost:3000'], rateLimit: { perKey: 120, auth: 0, windowMs: 30_000 }, trustProxy: 1,
      exchangeRatesUrl: 'https://rates.example/latest', exchangeRatesRefreshMs: 900_000,
    });
    expect(loadConfig({ DATA_DIR: tempDir(), CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });

  it.each([
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['PORT', '1.5'],
    ['SOCKS_SHARED_PORT', '-1'],
    ['SOCKS_DEDICATED_PORT', 'x'],
    ['DATABASE_URL', 'mysql://root@localhost/db'],
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_PREFIX', 'two words'],
    ['SMTP_URL', 'mail.example'],
    ['PUBLIC_URL', 'ftp://x'],
    ['APP_SECRET', 'short'],
    ['EGRESS_ALLOW', '10.0.0.0/33'],
    ['EGRESS_ALLOW', 'example.com'],
    ['LOG_LEVEL', 'loud'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['RATE_LIMIT', '-1'],
    ['AUTH_RATE_LIMIT', 'many'],
    ['RATE_LIMIT_WINDOW', '0'],
    ['TRUST_PROXY', '-2'],
    ['EXCHANGE_RATES_URL', 'rates.example'],
    ['EXCHANGE_RATES_REFRESH', '0'],
  ])('stops on a bad %s (%s) with a message naming it', (variable, value) => {
    const attempt = () => loadConfig({ DATA_DIR: tempDir(), [variable]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATA_DIR: tempDir(), PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 4000, databaseUrl: undefined });
  });
});
