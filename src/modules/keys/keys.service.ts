import { prisma, Prisma } from '../../db.js';
import type { ApiKey } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import { ConflictError, LimitReachedError, NotFoundError, ValidationError } from '../../lib/errors.js';
import type { Money } from '../../lib/money.js';
import { checkLimitFields } from '../usage/usage.service.js';
import { sha256 } from '../../lib/secrets.js';
import { runtime } from '../../runtime.js';
import { forgetKeyHashes, refreshKey } from './key-cache.js';
import { generateKey, keyPrefix } from './key-format.js';

export const MAX_ACTIVE_KEYS = 10;
export const KEY_SCOPES = ['account', 'keys', 'billing', 'proxy'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export interface KeyLimits {
  dailyLimit?: Money | null;
  weeklyLimit?: Money | null;
  monthlyLimit?: Money | null;
}

export interface CreateKeyInput extends KeyLimits {
  name: string;
  scopes?: KeyScope[] | null;
  expiresAt?: Date | null;
}

export interface CreatedKey {
  apiKey: ApiKey;
  /** The full key, shown once at creation (and on reveal). */
  value: string;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 64) throw new ValidationError('name', 'name must be 1 to 64 characters.');
  return trimmed;
}

function seal(value: string) {
  return { prefix: keyPrefix(value), hash: sha256(value), encrypted: runtime().secrets.encrypt(value) };
}

/** The caller's own key, or NOT_FOUND: another user's key looks exactly like a missing one. */
export async function getOwnKey(userId: number, id: number): Promise<ApiKey> {
  const key = await prisma.apiKey.findFirst({ where: { id, userId, kind: 'proxy' } });
  if (!key) throw new NotFoundError('API key');
  return key;
}

export async function listKeys(userId: number): Promise<ApiKey[]> {
  return prisma.apiKey.findMany({ where: { userId, kind: 'proxy' }, orderBy: { id: 'asc' } });
}

export async function createKey(userId: number, input: CreateKeyInput): Promise<CreatedKey> {
  const name = checkName(input.name);
  checkLimitFields(input);
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new ValidationError('expiresAt', 'expiresAt must be in the future.');
  }
  const value = generateKey();
  const apiKey = await prisma.$transaction(async (tx) => {
    // Serialises key creation per user so concurrent requests cannot pass the cap together.
    await tx.$queryRaw`SELECT id FROM users WHERE id = ${userId} FOR UPDATE`;
    const active = await tx.apiKey.count({ where: { userId, kind: 'proxy', active: true } });
    if (active >= MAX_ACTIVE_KEYS) {
      throw new LimitReachedError(`At most ${MAX_ACTIVE_KEYS} active API keys per account; revoke one first.`, MAX_ACTIVE_KEYS);
    }
    return tx.apiKey.create({
      data: {
        userId,
        name,
        ...seal(value),
        dailyLimit: input.dailyLimit ?? null,
        weeklyLimit: input.weeklyLimit ?? null,
        monthlyLimit: input.monthlyLimit ?? null,
        scopes: input.scopes ?? [],
        expiresAt: input.expiresAt ?? null,
      },
    });
  });
  await refreshKey(apiKey.hash);
  void bus.publish('key:changed', { apiKeyId: apiKey.id, userId, change: 'created', retiredHashes: [] });
  return { apiKey, value };
}

export async function updateKey(userId: number, id: number, patch: { name?: string | null } & KeyLimits): Promise<ApiKey> {
  const key = await getOwnKey(userId, id);
  if (!key.active) throw new ConflictError('This API key is revoked.');
  const data: Prisma.ApiKeyUpdateInput = {};
  if (patch.name !== undefined && patch.name !== null) data.name = checkName(patch.name);
  checkLimitFields(patch);
  if (patch.dailyLimit !== undefined) data.dailyLimit = patch.dailyLimit;
  if (patch.weeklyLimit !== undefined) data.weeklyLimit = patch.weeklyLimit;
  if (patch.monthlyLimit !== undefined) data.monthlyLimit = patch.monthlyLimit;
  const updated = await prisma.apiKey.update({ where: { id: key.id }, data });
  await refreshKey(key.hash);
  void bus.publish('key:changed', { apiKeyId: key.id, userId, change: 'updated', retiredHashes: [] });
  return updated;
}

export async function revealKey(userId: number, id: number): Promise<string> {
  const key = await getOwnKey(userId, id);
  if (!key.active) throw new ConflictError('This API key is revoked.');
  return runtime().secrets.decrypt(key.encrypted);
}

/** Replaces the key's value; the old value stops working at once. */
export async function regenerateKey(userId: number, id: number): Promise<CreatedKey> {
  const key = await getOwnKey(userId, id);
  if (!key.active) throw new ConflictError('This API key is revoked.');
  const value = generateKey();
  const updated = await prisma.apiKey.updateMany({ where: { id: key.id, hash: key.hash, active: true }, data: seal(value) });
  if (updated.count !== 1) throw new ConflictError('This API key changed meanwhile; try again.');
  await forgetKeyHashes([key.hash]);
  await refreshKey(sha256(value));
  void bus.publish('key:changed', { apiKeyId: key.id, userId, change: 'regenerated', retiredHashes: [key.hash] });
  return { apiKey: await prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } }), value };
}

export async function revokeKey(userId: number, id: number): Promise<ApiKey> {
  const key = await getOwnKey(userId, id);
  if (!key.active) return key;
  const revoked = await prisma.apiKey.update({ where: { id: key.id }, data: { active: false, revokedAt: new Date() } });
  await forgetKeyHashes([key.hash]);
  void bus.publish('key:changed', { apiKeyId: key.id, userId, change: 'revoked', retiredHashes: [key.hash] });
  return revoked;
}
