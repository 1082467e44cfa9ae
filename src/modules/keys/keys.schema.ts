import { z } from 'zod';
import { builder } from '../../graphql/builder.js';
import { toDbId } from '../../graphql/ids.js';
import { viewerOf } from '../../graphql/viewer.js';
import { ConflictError, LimitReachedError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { keyPreview } from './key-format.js';
import * as keys from './keys.service.js';

export const ApiKeyType = builder.prismaObject('ApiKey', {
  description: 'An API key. Its full value is shown only at creation, on regenerate and on reveal.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix'),
    preview: t.string({ description: 'Shown in lists: "lpf_1f05...".', resolve: (k) => keyPreview(k.prefix) }),
    active: t.exposeBoolean('active'),
    dailyLimit: t.expose('dailyLimit', { type: 'Money', nullable: true }),
    weeklyLimit: t.expose('weeklyLimit', { type: 'Money', nullable: true }),
    monthlyLimit: t.expose('monthlyLimit', { type: 'Money', nullable: true }),
    scopes: t.exposeStringList('scopes', { description: 'Empty means every scope.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Updated at most once a minute.' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const KeyScopeEnum = builder.enumType('KeyScope', {
  description: 'What a key may be used for: account (profile, password), keys (manage keys), billing (balance, usage, transactions), proxy (SOCKS5 traffic).',
  values: keys.KEY_SCOPES,
});

const CreatedApiKey = builder.objectRef<keys.CreatedKey>('CreatedApiKey').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyType, resolve: (c) => c.apiKey }),
    key: t.exposeString('value', { description: 'The full key. Store it: lists show only a preview.' }),
  }),
});


const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    dailyLimit: t.field({ type: 'Money', description: 'Spending cap per UTC day; null for none.' }),
    weeklyLimit: t.field({ type: 'Money', description: 'Spending cap per ISO week; null for none.' }),
    monthlyLimit: t.field({ type: 'Money', description: 'Spending cap per calendar month; null for none.' }),
    scopes: t.field({ type: [KeyScopeEnum], description: 'Restrict the key; omit for every scope.' }),
    expiresInDays: t.int({ validate: z.number().int().min(1).max(3650) }),
  }),
});

const UpdateApiKeyInput = builder.inputType('UpdateApiKeyInput', {
  description: 'Omitted fields stay as they are; a limit set to null is removed.',
  fields: (t) => ({
    name: t.string(),
    dailyLimit: t.field({ type: 'Money' }),
    weeklyLimit: t.field({ type: 'Money' }),
    monthlyLimit: t.field({ type: 'Money' }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.prismaField({
    type: [ApiKeyType],
    description: "The caller's keys, revoked ones included (active: false).",
    authScopes: { scope: 'keys' },
    resolve: (_query, _root, _args, ctx) => keys.listKeys(viewerOf(ctx).userId),
  }),
  apiKey: t.field({
    type: ApiKeyType,
    authScopes: { scope: 'keys' },
    errors: { types: [NotFoundError, ValidationError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => keys.getOwnKey(viewerOf(ctx).userId, toDbId(id)),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreatedApiKey,
    description: `Creates a key (at most ${keys.MAX_ACTIVE_KEYS} active per account).`,
    authScopes: { scope: 'keys' },
    errors: { types: [ValidationError, LimitReachedError] },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      keys.createKey(viewerOf(ctx).userId, {
        name: input.name,
        dailyLimit: input.dailyLimit,
        weeklyLimit: input.weeklyLimit,
        monthlyLimit: input.monthlyLimit,
        scopes: input.scopes,
        expiresAt: input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null,
      }),
  }),
  updateApiKey: t.field({
    type: ApiKeyType,
    authScopes: { scope: 'keys' },
    errors: { types: [NotFoundError, ValidationError, ConflictError] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateApiKeyInput, required: true }) },
    resolve: (_root, { id, input }, ctx) => keys.updateKey(viewerOf(ctx).userId, toDbId(id), input),
  }),
  revealApiKey: t.string({
    description: 'The full value of an active key.',
    authScopes: { scope: 'keys' },
    errors: { types: [NotFoundError, ValidationError, ConflictError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => keys.revealKey(viewerOf(ctx).userId, toDbId(id)),
  }),
  regenerateApiKey: t.field({
    type: CreatedApiKey,
    description: 'Gives the key a new value; the old one stops working at once.',
    authScopes: { scope: 'keys' },
    errors: { types: [NotFoundError, ValidationError, ConflictError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => keys.regenerateKey(viewerOf(ctx).userId, toDbId(id)),
  }),
  revokeApiKey: t.field({
    type: ApiKeyType,
    description: 'Deactivates the key at once. Revoking a revoked key is a no-op.',
    authScopes: { scope: 'keys' },
    errors: { types: [NotFoundError, ValidationError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => keys.revokeKey(viewerOf(ctx).userId, toDbId(id)),
  }),
}));
