import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance } from '../helpers/operations.js';
import { addUpstream } from '../../src/modules/upstreams/upstreams.service.js';
import { prisma } from '../../src/db.js';
import { fakeGate, fakeGrant, LOOPBACK_EGRESS, type FakeGrant } from './helpers.js';
import { createSocksServer } from '../../src/socks/server.js';
import type { SocksServer } from '../../src/socks/types.js';

let server: TestServer;
let smtp: TestSmtp;
let admin: TestUser;
let originUrl: string;
let origin: http.Server;

interface Exit {
  server: SocksServer;
  port: number;
  grant: FakeGrant;
}

/** An upstream SOCKS5 exit that accepts user "exit" / any password and counts connections. */
async function startExit(port = 0): Promise<Exit> {
  const grant = fakeGrant('exit');
  const s = createSocksServer({ host: '127.0.0.1', port, product: 'shared', gate: fakeGate({ exit: grant }), egress: LOOPBACK_EGRESS });
  return { server: s, port: (await s.start()).port, grant };
}

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  admin = await adminUser(server, smtp);
  origin = http.createServer((_req, res) => res.end('hello from origin'));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  origin?.close();
  await server?.stop();
  await smtp?.stop();
});

function curl(port: number, username: string): Promise<{ code: number | null; body: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '10', '-x', `socks5h://${username}@127.0.0.1:${port}`, originUrl]);
    let body = '';
    child.stdout.on('data', (d) => (body += d));
    child.on('close', (code) => resolve({ code, body }));
  });
}

async function keyFor() {
  const user = await verifiedUser(server, smtp);
  await server.ok(AdjustBalance, { userId: user.id, amount: '5', note: 'credit' }, { token: admin.accessToken });
  return (await createKeyOk(server, user)).key;
}

const settle = () => new Promise((r) => setTimeout(r, 150));

describe('upstream pools', () => {
  const exits: Exit[] = [];
  afterAll(async () => Promise.all(exits.map((e) => e.server.stop())));

  it('chains shared traffic through the pool, rotating per connection and keeping a session on one exit', async () => {
    const a = await startExit();
    const b = await startExit();
    exits.push(a, b);
    await addUpstream({ pool: 'shared-eu', product: 'shared', host: '127.0.0.1', port: a.port, username: 'exit', password: 'pw', countryCode: 'fr' });
    await addUpstream({ pool: 'shared-eu', product: 'shared', host: '127.0.0.1', port: b.port, username: 'exit', password: 'pw', countryCode: 'de' });
    await settle();
    const key = await keyFor();

    for (let i = 0; i < 4; i++) expect((await curl(server.socks.shared!, key)).body).toBe('hello from origin');
    expect(a.grant.opened.length).toBe(2);
    expect(b.grant.opened.length).toBe(2);

    const before = [a.grant.opened.length, b.grant.opened.length];
    for (let i = 0; i < 3; i++) expect((await curl(server.socks.shared!, `${key}-session-s1`)).code).toBe(0);
    const grew = [a.grant.opened.length - before[0]!, b.grant.opened.length - before[1]!];
    expect(grew.sort()).toEqual([0, 3]);

    const fr = a.grant.opened.length;
    expect((await curl(server.socks.shared!, `${key}-country-fr`)).code).toBe(0);
    expect(a.grant.opened.length).toBe(fr + 1);
    expect((await curl(server.socks.shared!, `${key}-country-us`)).code).toBe(97);
  });

  it('skips an exit that fails, and uses it again once a check finds it healthy', async () => {
    const [a, b] = exits;
    const key = await keyFor();
    const deadPort = a!.port;
    await a!.server.stop();
    const results = await Promise.all(Array.from({ length: 4 }, () => curl(server.socks.shared!, key)));
    expect(results.filter((r) => r.code === 0).length).toBeGreaterThanOrEqual(2);
    const row = await prisma.upstream.findFirstOrThrow({ where: { port: deadPort } });
    expect(row.healthy).toBe(false);
    for (let i = 0; i < 3; i++) expect((await curl(server.socks.shared!, key)).code).toBe(0);

    const revived = await startExit(deadPort);
    exits.push(revived);
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline && !(await prisma.upstream.findFirstOrThrow({ where: { port: deadPort } })).healthy) await new Promise((r) => setTimeout(r, 200));
    expect((await prisma.upstream.findFirstOrThrow({ where: { port: deadPort } })).healthy).toBe(true);
    for (let i = 0; i < 4; i++) await curl(server.socks.shared!, key);
    expect(revived.grant.opened.length).toBeGreaterThan(0);
    expect(b!.grant.opened.length).toBeGreaterThan(0);
  });

  it('pins each key of the dedicated product to one exit', async () => {
    const c = await startExit();
    const d = await startExit();
    exits.push(c, d);
    await addUpstream({ pool: 'dedicated-1', product: 'dedicated', host: '127.0.0.1', port: c.port, username: 'exit', password: 'pw' });
    await addUpstream({ pool: 'dedicated-1', product: 'dedicated', host: '127.0.0.1', port: d.port, username: 'exit', password: 'pw' });
    await settle();
    const key = await keyFor();
    for (let i = 0; i < 4; i++) expect((await curl(server.socks.dedicated!, key)).code).toBe(0);
    const counts = [c.grant.opened.length, d.grant.opened.length].sort();
    expect(counts).toEqual([0, 4]);
    const row = await prisma.apiKey.findFirstOrThrow({ where: { pinnedUpstreamId: { not: null } } });
    expect(row.pinnedUpstreamId).not.toBeNull();
  });
});
