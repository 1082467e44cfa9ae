import type { Role } from '../generated/prisma/client.js';

/** Who is calling, established once per request (HTTP) or per connection (WebSocket). */
export interface Viewer {
  userId: number;
  role: Role;
  via: 'session' | 'apiKey';
  sessionId?: string;
  apiKeyId?: number;
  /** SHA-256 of the API key presented: a regenerated key keeps its id but not its hash. */
  apiKeyHash?: string;
  /** Scopes of the API key; empty means every scope. Sessions have every scope. */
  scopes: readonly string[];
  /** When the credential stops working by itself (access token `exp`, key expiry); null: never. */
  expiresAt?: Date | null;
}

export interface RequestInfo {
  ip: string | null;
  userAgent: string | null;
  locale: string;
  /**
   * Whether the request named a supported locale (fp-locale), which is then stored on the
   * caller's profile when it differs. Unset: only a non-default locale is stored.
   */
  localeRequested?: boolean;
}

export interface Context {
  viewer: Viewer | null;
  /** Why presented credentials were refused; null when none were presented. */
  authProblem: string | null;
  request: RequestInfo;
  /**
   * Aborted when the credential of a long-lived connection (WebSocket) stops being valid;
   * its subscriptions end with it. Unset for HTTP requests.
   */
  credentialEnded?: AbortSignal;
}
