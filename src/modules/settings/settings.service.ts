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
