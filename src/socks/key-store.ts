import type { Window } from '../modules/usage/windows.js';

/** What the gate and the meter need to know about an API key: no Decimal, no database. */
export interface ProxyKey {
  readonly id: number;
  readonly userId: number;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | null;
  /** Spending limits in micro-USD; null: none. */
  readonly limits: Readonly<Record<Window, number | null>>;
}

/** A change of what the store answers for a key hash: the key, or null/undefined once it answers nothing. */
export type ProxyKeyChange = [hash: string, key: ProxyKey | null | undefined];

export type KeyStore = ReturnType<typeof createKeyStore>;

/**
 * The active keys by hash, as the SOCKS side sees them: a copy of the main thread's key cache
 * (key-cache.ts `addKeyMirror`), kept current by the changes it sends. A miss means "no such key".
 */
export function createKeyStore() {
  const keys = new Map<string, ProxyKey>();
  return {
    apply(changes: readonly ProxyKeyChange[]): void {
      for (const [hash, key] of changes) {
        if (key) keys.set(hash, key);
        else keys.delete(hash);
      }
    },
    /** The key, unless it has expired. */
    peek(hash: string): ProxyKey | null {
      const key = keys.get(hash);
      return key !== undefined && (key.expiresAt === null || key.expiresAt.getTime() > Date.now()) ? key : null;
    },
  };
}
