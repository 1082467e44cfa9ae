import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';
import { startSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, verifiedUser } from '../helpers/fixtures.js';
import { AdjustBalance } from '../helpers/operations.js';
import { connectDatabase, prisma } from '../../src/db.js';

const origin = http.createServer((_req, res) => {
  res.writeHead(200);
  const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 20);
  res.on('close', () => clearInterval(timer));
});
afterAll(() => {
  origin.closeAllConnections();
  origin.close();
});

it('writes the last bytes of open connections when the server shuts down', async () => {
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const smtp = await startSmtp();
  const server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8' }, { socks: true });
  try {
    const admin = await adminUser(server, smtp);
    const user = await verifiedUser(server, smtp);
    await server.ok(AdjustBalance, { userId: user.id, amount: '1', note: 'credit' }, { token: admin.accessToken });
    const { key, apiKey } = await createKeyOk(server, user);

    let received = 0;
    const child = spawn('curl', ['-sS', '-o', '-', '-x', `socks5h://${key}@127.0.0.1:${server.socks.shared}`, `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`]);
    child.stdout.on('data', (d: Buffer) => (received += d.length));
    const exited = new Promise((resolve) => child.on('close', resolve));
    while (received < 200_000) await new Promise((r) => setTimeout(r, 20));

    await server.app.stop();
    await exited;
    // Reopen the database the stopped server used and read what it wrote.
    const db = await connectDatabase({ databaseUrl: server.env.DATABASE_URL, dataDir: server.env.DATA_DIR! });
    try {
      const bucket = await prisma.usageBucket.findFirstOrThrow({ where: { apiKeyId: Number(apiKey.id) } });
      expect(Number(bucket.bytesDown)).toBeGreaterThanOrEqual(received);
      const spent = await prisma.ledgerTransaction.aggregate({ where: { apiKeyId: Number(apiKey.id) }, _sum: { amount: true } });
      expect(spent._sum.amount!.negated().toFixed(6)).toBe(bucket.cost.toFixed(6));
      const owner = await prisma.user.findUniqueOrThrow({ where: { id: Number(user.id) } });
      expect(owner.balance.toFixed(6)).toBe(bucket.cost.negated().plus(1).toFixed(6));
    } finally {
      await db.close();
    }
  } finally {
    await server.stop();
    await smtp.stop();
  }
});
