import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { createKeyOk, verifiedUser, type TestUser } from './helpers/fixtures.js';
import { CreateKey, GetKey, ListKeys, Me, RegenerateKey, RevealKey, RevokeKey, UpdateKey } from './helpers/operations.js';
import { prisma } from '../src/db.js';
import { sha256 } from '../src/lib/secrets.js';

let server: TestServer;
let smtp: TestSmtp;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  smtp = await startSmtp();
  server = await startServer({ SMTP_URL: smtp.url });
  [alice, bob] = await Promise.all([verifiedUser(server, smtp), verifiedUser(server, smtp)]);
});
afterAll(async () => {
  await server?.stop();
  await smtp?.stop();
});

const as = (user: TestUser) => ({ token: user.accessToken });

describe('API keys', () => {
  it('creates a key shown once, stored only as hash and ciphertext, listed as a preview', async () => {
    const created = await createKeyOk(server, alice, { name: 'Production', dailyLimit: '12.5' });
    expect(created.key).toMatch(/^lpf_[0-9a-f]{32}$/);
    expect(created.apiKey).toMatchObject({ name: 'Production', active: true, dailyLimit: '12.500000', weeklyLimit: null, lastUsedAt: null });
    expect(created.apiKey.preview).toBe(`${created.key.slice(0, 8)}...`);

    const row = await prisma.apiKey.findUniqueOrThrow({ where: { id: Number(created.apiKey.id) } });
    expect(row.hash).toBe(sha256(created.key));
    expect(row.encrypted).not.toContain(created.key.slice(4));
    expect(JSON.stringify(row)).not.toContain(created.key);

    const list = await server.ok(ListKeys, {}, as(alice));
    const listed = list.apiKeys.find((k) => k.id === created.apiKey.id)!;
    expect(listed.preview).toBe(created.apiKey.preview);
    expect(JSON.stringify(list)).not.toContain(created.key);
  });

  it('authenticates with the key as Bearer, x-api-key and ?apikey=', async () => {
    const { key } = await createKeyOk(server, alice);
    for (const header of ['authorization', 'x-api-key', 'query'] as const) {
      const me = await server.ok(Me, {}, { apiKey: key, header });
      expect(me.me).toMatchObject({ authenticatedWith: 'apiKey', user: { email: alice.email } });
    }
  });

  it('records last use without a write per request (at most once a minute)', async () => {
    const { key, apiKey } = await createKeyOk(server, alice);
    await server.ok(Me, {}, { apiKey: key });
    // The write is not awaited by the request: wait for it (bounded) before comparing.
    const read = () => prisma.apiKey.findUniqueOrThrow({ where: { id: Number(apiKey.id) } });
    let first = await read();
    for (let i = 0; i < 40 && first.lastUsedAt === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      first = await read();
    }
    expect(first.lastUsedAt).not.toBeNull();
    for (let i = 0; i < 5; i++) await server.ok(Me, {}, { apiKey: key });
    await new Promise((r) => setTimeout(r, 100));
    const later = await prisma.apiKey.findUniqueOrThrow({ where: { id: Number(apiKey.id) } });
    expect(later.lastUsedAt).toEqual(first.lastUsedAt);
    expect(later.updatedAt).toEqual(first.updatedAt);
  });

  it('gets, updates (null clears a limit) and reveals a key', async () => {
    const { key, apiKey } = await createKeyOk(server, alice, { name: 'Old', dailyLimit: '5' });
    const got = await server.ok(GetKey, { id: apiKey.id }, as(alice));
    expect(got.apiKey).toMatchObject({ __typename: 'QueryApiKeySuccess', data: { name: 'Old', dailyLimit: '5.000000' } });
    const updated = await server.ok(UpdateKey, { id: apiKey.id, input: { name: 'New', dailyLimit: null, monthlyLimit: '100.25' } }, as(alice));
    expect(updated.updateApiKey).toMatchObject({ data: { name: 'New', dailyLimit: null, weeklyLimit: null, monthlyLimit: '100.250000' } });
    const revealed = await server.ok(RevealKey, { id: apiKey.id }, as(alice));
    expect(revealed.revealApiKey).toEqual({ __typename: 'MutationRevealApiKeySuccess', data: key });
  });

  it('refuses bad names and limits, changing nothing', async () => {
    const { apiKey } = await createKeyOk(server, alice, { name: 'Keep' });
    const empty = await server.ok(CreateKey, { input: { name: '   ' } }, as(alice));
    expect(empty.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    const negative = await server.ok(UpdateKey, { id: apiKey.id, input: { dailyLimit: '-1' } }, as(alice));
    expect(negative.updateApiKey).toMatchObject({ __typename: 'ValidationError', field: 'dailyLimit' });
    const tooPrecise = await server.gql(UpdateKey, { id: apiKey.id, input: { dailyLimit: '1.1234567' } }, as(alice));
    expect(tooPrecise.errors?.[0]?.message).toMatch(/at most 6 decimals/);
    const badId = await server.ok(GetKey, { id: 'abc' }, as(alice));
    expect(badId.apiKey).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect((await server.ok(GetKey, { id: apiKey.id }, as(alice))).apiKey).toMatchObject({ data: { name: 'Keep', dailyLimit: null } });
  });

  it('regenerates: the old value stops at once, the new one works', async () => {
    const { key, apiKey } = await createKeyOk(server, alice);
    await server.ok(Me, {}, { apiKey: key }); // warm the cache
    const regen = await server.ok(RegenerateKey, { id: apiKey.id }, as(alice));
    if (regen.regenerateApiKey.__typename !== 'MutationRegenerateApiKeySuccess') throw new Error('regenerate failed');
    const fresh = regen.regenerateApiKey.data.key;
    expect(fresh).not.toBe(key);
    const old = await server.gql(Me, {}, { apiKey: key });
    expect(old.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' }, message: expect.stringMatching(/revoked/) });
    expect((await server.ok(Me, {}, { apiKey: fresh })).me.user.email).toBe(alice.email);
  });

  it('revokes: the key stops at once, stays listed as inactive, and cannot be revealed', async () => {
    const { key, apiKey } = await createKeyOk(server, alice);
    await server.ok(Me, {}, { apiKey: key });
    const revoked = await server.ok(RevokeKey, { id: apiKey.id }, as(alice));
    expect(revoked.revokeApiKey).toMatchObject({ data: { active: false, revokedAt: expect.any(String) } });
    expect((await server.gql(Me, {}, { apiKey: key })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await server.ok(RevealKey, { id: apiKey.id }, as(alice))).revealApiKey).toMatchObject({ code: 'CONFLICT' });
    expect((await server.ok(RegenerateKey, { id: apiKey.id }, as(alice))).regenerateApiKey).toMatchObject({ code: 'CONFLICT' });
    const listed = (await server.ok(ListKeys, {}, as(alice))).apiKeys.find((k) => k.id === apiKey.id);
    expect(listed).toMatchObject({ active: false });
  });

  it("treats another user's key exactly like a missing one, through every operation", async () => {
    const { key, apiKey } = await createKeyOk(server, alice, { name: 'Private' });
    const missingId = '2147483000';
    const ops = [
      (id: string) => server.ok(GetKey, { id }, as(bob)).then((r) => r.apiKey),
      (id: string) => server.ok(UpdateKey, { id, input: { name: 'pwned' } }, as(bob)).then((r) => r.updateApiKey),
      (id: string) => server.ok(RevealKey, { id }, as(bob)).then((r) => r.revealApiKey),
      (id: string) => server.ok(RegenerateKey, { id }, as(bob)).then((r) => r.regenerateApiKey),
      (id: string) => server.ok(RevokeKey, { id }, as(bob)).then((r) => r.revokeApiKey),
    ];
    for (const op of ops) {
      const foreign = await op(apiKey.id);
      expect(foreign).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND', message: 'API key not found.' });
      expect(await op(missingId)).toEqual(foreign);
    }
    expect((await server.ok(ListKeys, {}, as(bob))).apiKeys.map((k) => k.id)).not.toContain(apiKey.id);
    expect((await server.ok(Me, {}, { apiKey: key })).me.user.email).toBe(alice.email);
    expect((await server.ok(GetKey, { id: apiKey.id }, as(alice))).apiKey).toMatchObject({ data: { name: 'Private', active: true } });
  });

  it('refuses an 11th active key, also under concurrent creation', async () => {
    const carol = await verifiedUser(server, smtp);
    const attempts = await Promise.all(
      Array.from({ length: 14 }, (_, i) => server.ok(CreateKey, { input: { name: `k${i}` } }, as(carol))),
    );
    const created = attempts.filter((a) => a.createApiKey.__typename === 'MutationCreateApiKeySuccess');
    const refused = attempts.filter((a) => a.createApiKey.__typename === 'LimitReachedError');
    expect(created).toHaveLength(10);
    expect(refused).toHaveLength(4);
    expect(refused[0]!.createApiKey).toMatchObject({ code: 'LIMIT_REACHED', limit: 10 });
    expect(await prisma.apiKey.count({ where: { user: { email: carol.email }, active: true } })).toBe(10);

    const first = (await server.ok(ListKeys, {}, as(carol))).apiKeys[0]!;
    await server.ok(RevokeKey, { id: first.id }, as(carol));
    expect((await server.ok(CreateKey, { input: { name: 'after revoke' } }, as(carol))).createApiKey.__typename).toBe('MutationCreateApiKeySuccess');
  });

  it('limits what a scoped key may do', async () => {
    const res = await server.ok(CreateKey, { input: { name: 'proxy only', scopes: ['proxy'] } }, as(alice));
    if (res.createApiKey.__typename !== 'MutationCreateApiKeySuccess') throw new Error('create failed');
    const key = res.createApiKey.data.key;
    expect((await server.gql(ListKeys, {}, { apiKey: key })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await server.gql(Me, {}, { apiKey: key })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('refuses anonymous callers and unknown keys', async () => {
    expect((await server.gql(ListKeys, {})).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const unknown = await server.gql(ListKeys, {}, { apiKey: `lpf_${'0'.repeat(32)}` });
    expect(unknown.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(unknown.data).toBeNull();
  });
});
