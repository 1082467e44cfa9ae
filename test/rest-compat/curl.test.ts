import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSmtp, tokenFrom, type TestSmtp } from '../helpers/smtp.js';
import { adminUser, createKeyOk, uniqueName, verifiedUser, type TestUser } from '../helpers/fixtures.js';
import { AdjustBalance } from '../helpers/operations.js';
import { leproxyDoc, runCurl, shapeProblems, type ShapeRules } from './shape.js';

/**
 * Every curl command of the reference document, run as written against a real server: the
 * host becomes the test server, VOTRE_CLE_API a real key, :id a real key id, and example
 * values valid ones. Each answer has the documented shape, or is the 501 of a capability
 * that is not there yet.
 */

let server: TestServer;
let smtp: TestSmtp;
let origin: http.Server;
let originPort: number;
let user: TestUser;
let authKey: string;
let authKeyId: string;
let targetKeyId: string;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url, EGRESS_ALLOW: '127.0.0.0/8', AUTH_RATE_LIMIT: '1000' }, { socks: true });
  // Stands in for https://ipinfo.io/ip: answers the address the request came from.
  origin = http.createServer((req, res) => res.end(`${req.socket.remoteAddress?.replace(/^::ffff:/, '')}\n`));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
  const admin = await adminUser(server, smtp);
  user = await verifiedUser(server, smtp);
  await server.ok(AdjustBalance, { userId: user.id, amount: '100', note: 'curl examples' }, { token: admin.accessToken });
  const auth = await createKeyOk(server, user, { name: 'Auth' });
  [authKey, authKeyId] = [auth.key, auth.apiKey.id];
  targetKeyId = (await createKeyOk(server, user, { name: 'Prod' })).apiKey.id;
});
afterAll(async () => {
  origin?.closeAllConnections();
  origin?.close();
  await server?.stop();
  await smtp?.stop();
});

const address = '0x31b6740e6a8bd1c6cad7a3b1c3b2f7a2a1d3e4f5';
const signature = `0x${'ab'.repeat(65)}`;
const newcomer = uniqueName('curl');
const newcomerEmail = `${newcomer}@example.test`;

/** Capabilities of later issues: the route answers 501 NOT_AVAILABLE_YET, never a fake success. */
const NOT_AVAILABLE = new Set([
  'GET /auth/nonce',
  'POST /auth/wallet',
  'POST /auth/link-wallet',
  'DELETE /auth/unlink-wallet',
  'POST /keys/deposit',
  'POST /keys/settings/webhooks/test',
]);

const keyShape = (leproxyDoc.examples['GET /keys/:id'] as { key: unknown }).key;
const settingsShape = { ...(leproxyDoc.examples['GET /keys/settings'] as { settings: Record<string, unknown> }).settings, webhook_events: { balanceLow: true, deposit: true, dailyUsage: true } };
const windows = (leproxyDoc.examples['GET /keys/usage'] as { global: { limits: unknown; used: unknown; remaining: unknown } }).global;
const balanceSummary = (leproxyDoc.examples['GET /keys/balance'] as { summary: { deposit: unknown } }).summary;

/** Where the document shows `{}`, a map keyed by data, or a value that is null without data. */
const RULES: Record<string, ShapeRules> = {
  'POST /keys': { nullable: ['$.key.last_used_at'] },
  'GET /keys/:id': { nullable: ['$.key.last_used_at'] },
  'PUT /keys/:id': { expand: { '$.key': keyShape }, nullable: ['$.key.last_used_at'] },
  'GET /keys/usage': {
    expand: { '$.keys[].limits': windows.limits, '$.keys[].used': windows.used, '$.keys[].remaining': windows.remaining },
    nullable: ['$.global.limits.daily', '$.global.remaining.daily', '$.keys[].limits.daily', '$.keys[].remaining.daily'],
  },
  'GET /keys/usage/daily': { maps: ['$.daily'] },
  'GET /keys/balance': {
    maps: ['$.summary.deposit.by_subtype', '$.summary.consumption.by_subtype', '$.summary.adjustment.by_subtype'],
    expand: { '$.summary': { ...balanceSummary, adjustment: balanceSummary.deposit } },
  },
  'GET /keys/transactions': { nullable: ['$.transactions[].tx_hash', '$.transactions[].currency', '$.transactions[].chain_id'] },
  'GET /keys/settings': { expand: { '$.settings.webhook_events': settingsShape.webhook_events }, nullable: ['$.settings.webhook_secret'] },
  'PUT /keys/settings': { expand: { '$.settings': settingsShape }, nullable: ['$.settings.webhook_secret'] },
};

/** Valid values for the document's "example" placeholders, per route. */
async function bodyFor(route: string, documented: Record<string, unknown>): Promise<Record<string, unknown>> {
  switch (route) {
    case 'POST /auth/wallet':
      return { address, signature, message: 'Connexion a Le Proxy Francais' };
    case 'POST /auth/register':
      return { username: newcomer, email: newcomerEmail, password: 'correct horse 42' };
    case 'POST /auth/login':
      return { email: user.email, password: user.password };
    case 'POST /auth/resend-verification':
      return { email: newcomerEmail };
    case 'POST /auth/forgot-password':
      return { email: user.email };
    case 'POST /auth/reset-password':
      return { token: tokenFrom(await smtp.waitFor(user.email, /reset/i)), password: 'reset password 1' };
    case 'POST /auth/change-password':
      return { currentPassword: 'reset password 1', newPassword: 'changed password 2' };
    case 'POST /auth/link-wallet':
      return { address, signature };
    case 'POST /keys':
      return { ...documented, name: 'Production' };
    case 'PUT /keys/:id':
      return { ...documented, name: 'Renamed' };
    case 'POST /keys/deposit':
      return { tx_hash: `0x${'c'.repeat(64)}`, currency: 'usdt', chain_id: 1 };
    case 'PUT /keys/settings/webhooks':
      return { webhook_url: 'https://hooks.example.com/relais', webhook_events: { balanceLow: true, deposit: false, dailyUsage: true } };
    default:
      return documented;
  }
}

async function queryFor(route: string, query: string): Promise<string> {
  switch (route) {
    case 'GET /auth/nonce':
      return `address=${address}`;
    case 'GET /auth/verify-email':
      return `token=${tokenFrom(await smtp.waitFor(newcomerEmail, /confirm/i))}`;
    case 'GET /keys/transactions':
      return query.replace('type=example', 'type=adjustment').replace('api_key_id=1', `api_key_id=${authKeyId}`);
    default:
      return query;
  }
}

interface Prepared {
  route: string;
  command: string;
  socks: boolean;
}

async function prepare(original: string): Promise<Prepared> {
  if (original.startsWith('curl -x socks5h://')) {
    const product = original.includes(':1081') ? 'dedicated' : 'shared';
    const command = original
      .replace('VOTRE_CLE_API', authKey)
      .replace(/@(mut|ded)\.prx\.lv:\d+/, `@127.0.0.1:${server.socks[product]}`)
      .replace('https://ipinfo.io/ip', `http://127.0.0.1:${originPort}/ip`);
    return { route: `SOCKS5 ${product}`, command, socks: true };
  }
  // The two short examples at the top lost their line break in the document ("\ -H").
  let command = original.replace(' \\ -H', ' \\\n-H');
  const [, method = 'GET', url] = command.match(/^curl (?:-X (\w+) )?"?(https:\/\/prx\.lv[^"\s]*)"?/)!;
  const [path, query] = url!.replace('https://prx.lv', '').split('?') as [string, string | undefined];
  const route = `${method} ${path}`;
  const target = path.replace(':id', targetKeyId) + (query ? `?${await queryFor(route, query)}` : '');
  command = command.replace(url!, server.url + target).replace('VOTRE_CLE_API', authKey);
  const data = command.match(/-d '([^']*)'/);
  if (data) command = command.replace(data[0], `-d '${JSON.stringify(await bodyFor(route, JSON.parse(data[1]!)))}'`);
  return { route, command, socks: false };
}

describe('the curl examples of the reference document', () => {
  it('covers every documented endpoint', () => {
    const routes = new Set(leproxyDoc.curls.filter((c) => c.includes('prx.lv/')).map((c) => c.match(/^curl (?:-X (\w+) )?"?https:\/\/prx\.lv([^"?\s]*)/)).map((m) => `${m![1] ?? 'GET'} ${m![2]}`));
    expect([...routes].sort()).toEqual(Object.keys(leproxyDoc.examples).sort());
    expect(leproxyDoc.curls).toHaveLength(36);
  });

  it('runs each one, in the document order, and gets the documented shape back', async () => {
    const outcomes: string[] = [];
    for (const original of leproxyDoc.curls) {
      const { route, command, socks } = await prepare(original);
      const res = await runCurl(command);
      if (socks) {
        expect(res.status, `${route}: ${res.stderr}`).toBe(200);
        expect(res.body.trim()).toBe('127.0.0.1');
        outcomes.push(`${route} 200`);
        continue;
      }
      const body = JSON.parse(res.body);
      if (NOT_AVAILABLE.has(route)) {
        expect(res.status, route).toBe(501);
        expect(body, route).toMatchObject({ code: 'NOT_AVAILABLE_YET', error: expect.stringMatching(/not available yet/) });
      } else {
        expect(res.status, `${route}: ${res.body}`).toBe(200);
        expect(shapeProblems(body, leproxyDoc.examples[route], RULES[route]), route).toEqual([]);
      }
      outcomes.push(`${route} ${res.status}`);
    }
    expect(outcomes).toHaveLength(36);
    // The examples changed what they say they change.
    const settings = JSON.parse((await runCurl(`curl "${server.url}/keys/settings" -H "Authorization: Bearer ${authKey}"`)).body).settings;
    expect(settings).toMatchObject({ daily_limit: 1, webhook_url: 'https://hooks.example.com/relais', alert_threshold: 1, save_card_consent: true });
    const target = await runCurl(`curl "${server.url}/keys/${targetKeyId}" -H "Authorization: Bearer ${authKey}"`);
    expect(JSON.parse(target.body).key).toMatchObject({ name: 'Renamed', active: 0, daily_limit: 1 });
  });
});
