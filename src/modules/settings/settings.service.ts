import { randomBytes } from 'node:crypto';
import { prisma, type Prisma } from '../../db.js';
import type { UserSettings } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import { NotAvailableYetError, ValidationError } from '../../lib/errors.js';
import { MONEY_MAX, type Money } from '../../lib/money.js';
import { runtime } from '../../runtime.js';
import { checkLimitFields } from '../usage/usage.service.js';

export async function getSettings(userId: number): Promise<UserSettings> {
  return prisma.userSettings.upsert({ where: { userId }, update: {}, create: { userId } });
}

export interface AccountLimits {
  dailyLimit?: Money | null;
  weeklyLimit?: Money | null;
  monthlyLimit?: Money | null;
}

/** Sets the account-wide spending limits; omitted ones stay, null removes one. */
export async function updateAccountLimits(userId: number, limits: AccountLimits): Promise<UserSettings> {
  checkLimitFields(limits);
  const data = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
  const settings = await prisma.userSettings.upsert({ where: { userId }, update: data, create: { userId, ...data } });
  void bus.publish('settings:changed', { userId });
  return settings;
}

export interface WebhookEvents {
  balanceLow: boolean;
  deposit: boolean;
  dailyUsage: boolean;
}

/** The events the account webhook is sent for; the stored JSON may lack keys (off) or be `{}`. */
export function webhookEventsOf(settings: Pick<UserSettings, 'webhookEvents'>): WebhookEvents {
  const raw = settings.webhookEvents;
  const events = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  return { balanceLow: events.balanceLow === true, deposit: events.deposit === true, dailyUsage: events.dailyUsage === true };
}

export interface AlertSettings {
  alertLowBalance?: boolean | null;
  alertThreshold?: Money | null;
  autoReloadEnabled?: boolean | null;
  autoReloadThreshold?: Money | null;
  autoReloadAmount?: Money | null;
  saveCardConsent?: boolean | null;
}

const ALERT_AMOUNTS = ['alertThreshold', 'autoReloadThreshold', 'autoReloadAmount'] as const;

/** Sets the low-balance alert and automatic reload preferences; omitted ones stay. */
export async function updateAlertSettings(userId: number, input: AlertSettings): Promise<UserSettings> {
  const data: Prisma.UserSettingsUpdateInput = {};
  for (const field of ['alertLowBalance', 'autoReloadEnabled', 'saveCardConsent'] as const) {
    const value = input[field];
    if (value === null) throw new ValidationError(field, `${field} must be true or false.`);
    if (value !== undefined) data[field] = value;
  }
  for (const field of ALERT_AMOUNTS) {
    const value = input[field];
    if (value === undefined) continue;
    if (value === null || value.isNegative() || value.gt(MONEY_MAX)) throw new ValidationError(field, `${field} must be a non-negative amount.`);
    if (field === 'autoReloadAmount' && value.isZero()) throw new ValidationError(field, 'autoReloadAmount must be more than zero.');
    data[field] = value;
  }
  const settings = await prisma.userSettings.upsert({ where: { userId }, update: data, create: { ...(data as Prisma.UserSettingsUncheckedCreateInput), userId } });
  void bus.publish('settings:changed', { userId });
  return settings;
}

const newWebhookSecret = () => randomBytes(32).toString('hex');

/** The signing secret in clear; it is stored encrypted like API keys. */
export const webhookSecretOf = (settings: Pick<UserSettings, 'webhookSecret'>): string | null =>
  settings.webhookSecret ? runtime().secrets.decrypt(settings.webhookSecret) : null;

function checkWebhookUrl(raw: string): string {
  const value = raw.trim();
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || value.length > 2048) {
    throw new ValidationError('url', 'url must be an http(s) URL of at most 2048 characters.');
  }
  if (url.username || url.password) throw new ValidationError('url', 'url must not contain credentials.');
  return url.toString();
}

/**
 * Sets where account events are posted and which ones. Events left out are off. The first
 * configuration creates the signing secret; later ones keep it. A null url removes the
 * webhook (its secret stays for when one is set again).
 */
export async function updateWebhook(userId: number, input: { url: string | null; events: Partial<WebhookEvents> }): Promise<UserSettings> {
  const webhookUrl = input.url === null ? null : checkWebhookUrl(input.url);
  const webhookEvents = { balanceLow: input.events.balanceLow === true, deposit: input.events.deposit === true, dailyUsage: input.events.dailyUsage === true };
  const current = await getSettings(userId);
  const webhookSecret = current.webhookSecret ?? runtime().secrets.encrypt(newWebhookSecret());
  const settings = await prisma.userSettings.update({ where: { userId }, data: { webhookUrl, webhookEvents, webhookSecret } });
  void bus.publish('settings:changed', { userId });
  return settings;
}

/** Replaces the signing secret; deliveries are signed with the new one from now on. */
export async function rotateWebhookSecret(userId: number): Promise<UserSettings> {
  await getSettings(userId);
  const settings = await prisma.userSettings.update({ where: { userId }, data: { webhookSecret: runtime().secrets.encrypt(newWebhookSecret()) } });
  void bus.publish('settings:changed', { userId });
  return settings;
}

/** Sends a test event to the webhook: delivery arrives with the webhooks issue. */
export async function testWebhook(_userId: number): Promise<{ status: number }> {
  throw new NotAvailableYetError('Webhook delivery');
}
