import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import { NotAvailableYetError, ValidationError } from '../../lib/errors.js';
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
    webhookSecret: t.string({
      nullable: true,
      description: 'Signs webhook deliveries (HMAC-SHA256); created with the first webhook configuration.',
      resolve: (s) => settings.webhookSecretOf(s),
    }),
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

const AlertSettingsInput = builder.inputType('AlertSettingsInput', {
  description: 'Omitted fields stay as they are.',
  fields: (t) => ({
    alertLowBalance: t.boolean({ description: 'Mail (and webhook balanceLow) when the balance falls under alertThreshold.' }),
    alertThreshold: t.field({ type: 'Money' }),
    autoReloadEnabled: t.boolean(),
    autoReloadThreshold: t.field({ type: 'Money', description: 'Reload when the balance falls under this.' }),
    autoReloadAmount: t.field({ type: 'Money', description: 'How much a reload buys; more than zero.' }),
    saveCardConsent: t.boolean(),
  }),
});

const WebhookEventsInput = builder.inputType('WebhookEventsInput', {
  description: 'Events left out are off.',
  fields: (t) => ({
    balanceLow: t.boolean(),
    deposit: t.boolean(),
    dailyUsage: t.boolean(),
  }),
});

const WebhookTestType = builder.objectRef<{ status: number }>('WebhookTest').implement({
  fields: (t) => ({ status: t.exposeInt('status', { description: 'HTTP status the webhook answered.' }) }),
});

builder.mutationFields((t) => ({
  updateAlertSettings: t.field({
    type: AccountSettingsType,
    description: 'Sets the low-balance alert and the automatic reload preferences.',
    authScopes: { scope: 'account' },
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: AlertSettingsInput, required: true }) },
    resolve: (_root, { input }, ctx) => settings.updateAlertSettings(viewerOf(ctx).userId, input),
  }),
  updateWebhook: t.field({
    type: AccountSettingsType,
    description:
      'Sets the account webhook: the URL events are posted to (null removes it) and which events. The first configuration creates the signing secret.',
    authScopes: { scope: 'account' },
    errors: { types: [ValidationError] },
    args: { url: t.arg.string(), events: t.arg({ type: WebhookEventsInput, required: true }) },
    resolve: (_root, args, ctx) =>
      settings.updateWebhook(viewerOf(ctx).userId, {
        url: args.url ?? null,
        events: { balanceLow: args.events.balanceLow ?? false, deposit: args.events.deposit ?? false, dailyUsage: args.events.dailyUsage ?? false },
      }),
  }),
  rotateWebhookSecret: t.field({
    type: AccountSettingsType,
    description: 'Replaces the webhook signing secret.',
    authScopes: { scope: 'account' },
    resolve: (_root, _args, ctx) => settings.rotateWebhookSecret(viewerOf(ctx).userId),
  }),
  testWebhook: t.field({
    type: WebhookTestType,
    description: 'Posts a test event to the webhook. Not available yet (NOT_AVAILABLE_YET).',
    authScopes: { scope: 'account' },
    errors: { types: [NotAvailableYetError] },
    resolve: (_root, _args, ctx) => settings.testWebhook(viewerOf(ctx).userId),
  }),
}));
