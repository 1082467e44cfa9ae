import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance, RevokeKey } from '../helpers/operations.js';
import { rawConnect } from './helpers.js';
import { encodeCredentials, encodeGreeting, Method } from '../../src/socks/protocol.js';

// The SOCKS5 servers run in a worker thread of their own (src/socks/worker-host.ts): these are
// the seams between it and the main thread, through the real product.
let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let origin: http.Server;
let originUrl: string;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  admin = await adminUser(server, smtp);
  origin = http.createServer((req, res) => res.end(`hello ${req.url}`));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});
afterAll(async () => {
  origin?.closeAllConnections();
  origin?.close();
  await server?.stop();
  await smtp?.stop();
});

const curl = (key: string, path: string) =>
  new Promise<{ code: number; body: string }>((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', '-x', `socks5h://${key}@127.0.0.1:${server.socks.shared}`, `${originUrl}${path}`], (err, stdout) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, body: stdout }),
    );
  });

async function fundedKey(): Promise<{ user: TestUser; key: string; id: string }> {
  const user = await verifiedUser(server, smtp);
  await server.ok(AdjustBalance, { userId: user.id, amount: '5', note: 'credit' }, { token: admin.accessToken });
  const { key, apiKey } = await createKeyOk(server, user);
  return { user, key, id: apiKey.id };
}

const readyz = async () => {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { socks?: string } };
};

describe('the SOCKS5 worker thread', () => {
  it('accepts a key created through the API on the very next connection, and refuses it as soon as its revocation answers', async () => {
    for (let i = 0; i < 5; i++) {
      const { user, key, id } = await fundedKey();
      expect(await curl(key, `/fresh-${i}`)).toEqual({ code: 0, body: `hello /fresh-${i}` });
      await server.ok(RevokeKey, { id }, { token: user.accessToken });
      const client = await rawConnect(server.socks.shared!);
      client.write(encodeGreeting([Method.UserPass]));
      expect([...(await client.read(2))]).toEqual([0x05, 0x02]);
      client.write(encodeCredentials(key, ''));
      expect([...(await client.read(2))]).toEqual([0x01, 0x01]);
    }
  });

  it('is started again after it dies, on the same port, and /readyz says so meanwhile', async () => {
    const { key } = await fundedKey();
    expect(await curl(key, '/before')).toEqual({ code: 0, body: 'hello /before' });
    expect(await readyz()).toEqual({ status: 200, body: expect.objectContaining({ socks: 'running' }) });

    await server.app.socks!.terminate();
    expect(await readyz()).toEqual({ status: 503, body: expect.objectContaining({ status: 'unavailable', socks: 'restarting' }) });

    const deadline = Date.now() + 15_000;
    while ((await readyz()).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await readyz()).toEqual({ status: 200, body: expect.objectContaining({ socks: 'running' }) });
    expect(await curl(key, '/after')).toEqual({ code: 0, body: 'hello /after' });
  });
});
