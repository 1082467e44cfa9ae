import { createPubSub } from 'graphql-yoga';

/**
 * Domain events, typed per channel. Channels keyed by user id carry that user's events;
 * subscriptions, webhooks and cache invalidation consume them.
 */
export interface KeyChangedEvent {
  apiKeyId: number;
  userId: number;
  change: 'created' | 'updated' | 'revoked' | 'regenerated';
  /** SHA-256 of key values that stopped working, for cache invalidation. */
  retiredHashes: string[];
}

export interface BalanceChangedEvent {
  userId: number;
  balance: string;
  transactionId: number;
}

export type BusChannels = {
  /** Prices, tiers or a user's grid changed (userId null: everyone). */
  'pricing:changed': [{ userId: number | null }];
  /** Upstream exits were added or removed. */
  'upstreams:changed': [Record<string, never>];
  /** Account-wide limits changed. */
  'settings:changed': [{ userId: number }];
  'key:changed': [KeyChangedEvent];
  'balance:changed': [BalanceChangedEvent];
};

export const bus = createPubSub<BusChannels>();
