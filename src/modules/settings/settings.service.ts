import { prisma } from '../../db.js';
import type { UserSettings } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import type { Money } from '../../lib/money.js';
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
