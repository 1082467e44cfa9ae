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
  'key:changed': [KeyChangedEvent];
  'balance:changed': [BalanceChangedEvent];
};

export const bus = createPubSub<BusChannels>();
