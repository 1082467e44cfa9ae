import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import { ValidationError } from '../../lib/errors.js';
import type { UserSettings } from '../../generated/prisma/client.js';
import * as settings from './settings.service.js';

const WebhookEventsType = builder.objectRef<settings.WebhookEvents>('WebhookEvents').implement({
  description: 'Which events the account webhook is sent for.',
  fields: (t) => ({
    balanceLow: t.exposeBoolean('balanceLow'),
    deposit: t.exposeBoolean('deposit'),
    dailyUsage: t.exposeBoolean('dailyUsage'),
  }),
});

const AccountSettingsType = builder.objectRef<UserSettings>('AccountSettings').implement({
  description: 'Account-wide spending limits, alerts, automatic reload and the account webhook.',
  fields: (t) => ({
    dailyLimit: t.expose('dailyLimit', { type: 'Money', nullable: true, description: 'Spending cap per UTC day over all keys; null for none.' }),
    weeklyLimit: t.expose('weeklyLimit', { type: 'Money', nullable: true, description: 'Spending cap per ISO week; null for none.' }),
    monthlyLimit: t.expose('monthlyLimit', { type: 'Money', nullable: true, description: 'Spending cap per calendar month; null for none.' }),
    alertLowBalance: t.exposeBoolean('alertLowBalance'),
    alertThreshold: t.expose('alertThreshold', { type: 'Money' }),
    autoReloadEnabled: t.exposeBoolean('autoReloadEnabled'),
    autoReloadThreshold: t.expose('autoReloadThreshold', { type: 'Money' }),
    autoReloadAmount: t.expose('autoReloadAmount', { type: 'Money' }),
    saveCardConsent: t.exposeBoolean('saveCardConsent'),
    webhookUrl: t.exposeString('webhookUrl', { nullable: true }),
    webhookEvents: t.field({ type: WebhookEventsType, resolve: (s) => settings.webhookEventsOf(s) }),
    webhookSecret: t.exposeString('webhookSecret', { nullable: true, description: 'Signs webhook deliveries (HMAC-SHA256).' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const AccountLimitsInput = builder.inputType('AccountLimitsInput', {
  description: 'Omitted fields stay as they are; a limit set to null is removed.',
  fields: (t) => ({
    dailyLimit: t.field({ type: 'Money' }),
    weeklyLimit: t.field({ type: 'Money' }),
    monthlyLimit: t.field({ type: 'Money' }),
  }),
});

builder.queryField('accountSettings', (t) =>
  t.field({
    type: AccountSettingsType,
    authScopes: { scope: 'account' },
    resolve: (_root, _args, ctx) => settings.getSettings(viewerOf(ctx).userId),
  }),
);

builder.mutationField('updateAccountLimits', (t) =>
  t.field({
    type: AccountSettingsType,
    description: 'Sets the account-wide spending limits, which apply to the traffic of all keys together.',
    authScopes: { scope: 'account' },
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: AccountLimitsInput, required: true }) },
    resolve: (_root, { input }, ctx) => settings.updateAccountLimits(viewerOf(ctx).userId, input),
  }),
);
