import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgres } from './helpers/database.js';

const BIN = fileURLToPath(new URL('../bin/relais.mjs', import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), 'relais-cli-'));
let pgdb: Awaited<ReturnType<typeof freshPostgres>>;
let baseEnv: Record<string, string>;

beforeAll(async () => {
  pgdb = await freshPostgres();
  baseEnv = {
    PATH: process.env.PATH ?? '',
    DATA_DIR: dataDir,
    BCRYPT_ROUNDS: '4',
    PORT: '0',
    HOST: '127.0.0.1',
    SOCKS_SHARED_PORT: '0',
    SOCKS_DEDICATED_PORT: '0',
    ...(pgdb ? { DATABASE_URL: pgdb.url } : {}),
  };
});
afterAll(async () => {
  await pgdb?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

function relais(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// Each command is a fresh process (tsx + database start), a few seconds apiece.
describe('relais command', { timeout: 180_000 }, () => {
  it('migrates, creates an admin, credits and debits with notes, and lists users and keys', async () => {
    expect((await relais(['migrate'])).code).toBe(0);
    const admin = await relais(['admin', 'create', '--email', 'Root@Example.test', '--password', 'admin password']);
    expect(admin).toMatchObject({ code: 0, stdout: expect.stringContaining('admin root@example.test') });

    const credit = await relais(['credit', '--email', 'root@example.test', '--amount', '12.5', '--note', 'opening balance']);
    expect(credit.stdout).toMatch(/credited 12\.500000 to root@example\.test; balance 12\.500000/);
    const debit = await relais(['debit', '--email', 'root@example.test', '--amount', '2.25', '--note', 'correction']);
    expect(debit.stdout).toMatch(/balance 10\.250000/);
    const overdraft = await relais(['debit', '--email', 'root@example.test', '--amount', '100', '--note', 'too much']);
    expect(overdraft).toMatchObject({ code: 1, stderr: expect.stringContaining('Insufficient balance') });

    const users = await relais(['users', 'list']);
    expect(users.stdout).toContain('root@example.test');
    expect(users.stdout).toContain('10.250000');
    expect((await relais(['keys', 'list', '--email', 'root@example.test'])).stdout).toContain('(none)');
  });

  it('shows and edits list prices and pricing grids', async () => {
    expect(await relais(['pricing', 'set-price', '--product', 'shared', '--price', '2.75'])).toMatchObject({ code: 0, stdout: expect.stringContaining('shared (Mutualisé): 2.750000 per GB') });
    expect(await relais(['pricing', 'set-tiers', '--grid', 'Premium', '--tiers', '0:1,100:0.9,500:0.8'])).toMatchObject({ code: 0, stdout: expect.stringContaining('grid Premium: 0:1, 100:0.9, 500:0.8') });
    const shown = await relais(['pricing', 'show']);
    expect(shown.stdout).toMatch(/'shared'.*'Mutualisé'.*'2\.750000'/);
    expect(shown.stdout).toMatch(/'Premium'.*false.*'500\.000000'.*'0\.8'/);
    expect(shown.stdout).toMatch(/'Standard'.*true.*'2000\.000000'.*'0\.7'/);
    expect(await relais(['pricing', 'set-tiers', '--grid', 'Premium', '--tiers', '0:1,100'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/--tiers must be min:rate pairs/) });
  });

  it('explains bad usage and bad configuration', async () => {
    expect(await relais(['credit', '--email', 'root@example.test', '--amount', 'lots', '--note', 'x'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/--amount must be a positive amount/) });
    expect(await relais(['credit', '--email', 'root@example.test', '--note', 'x'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/--amount is required/) });
    expect(await relais(['keys', 'list', '--email', 'nobody@example.test'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/User not found/) });
    expect(await relais(['frobnicate'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/unknown command "frobnicate"/) });
    expect(await relais(['serve'], { PORT: 'eighty' })).toMatchObject({ code: 1, stderr: expect.stringMatching(/Invalid configuration: PORT/) });
  });

  it('serves, logs without secrets, and shuts down cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...baseEnv, LOG_LEVEL: 'trace' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line in: ${output}`)), 60_000);
      child.stdout.on('data', () => {
        const match = output.match(/"port":(\d+).*relais listening/);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    const gql = (query: string, variables: object, token?: string) =>
      fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      }).then((r) => r.json());
    const login = await gql('mutation($e: String!, $p: String!) { login(email: $e, password: $p) { ... on MutationLoginSuccess { data { accessToken } } } }', { e: 'root@example.test', p: 'admin password' });
    const token = login.data.login.data.accessToken as string;
    await gql('mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }', { e: 'root@example.test', p: 'wrong secret pw' });
    const created = await gql('mutation { createApiKey(input: { name: "cli" }) { ... on MutationCreateApiKeySuccess { data { key } } } }', {}, token);
    const key = created.data.createApiKey.data.key as string;
    await gql('mutation($p: String!) { changePassword(currentPassword: $p, newPassword: "an even newer pw") { __typename } }', { p: 'admin password' }, token);
    await gql('{ me { balance } }', {}, key);
    await gql('{ me { balance } }', {}, `lpf_${'f'.repeat(32)}`);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(output).toContain('relais listening');
    for (const secret of ['admin password', 'wrong secret pw', 'an even newer pw', key, token, 'f'.repeat(32)]) {
      expect(output).not.toContain(secret);
    }
  });
});
