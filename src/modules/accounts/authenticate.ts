import { prisma } from '../../db.js';
import { sha256 } from '../../lib/secrets.js';
import type { Viewer } from '../../graphql/context.js';
import { lookupKey, touchKey } from '../keys/key-cache.js';
import { isKeyShaped } from '../keys/key-format.js';
import { looksLikeJwt, verifyAccessToken } from './tokens.js';

export interface Credentials {
  /** Value of `Authorization: Bearer …`: an access token or an API key. */
  bearer?: string | null;
  /** Value of `x-api-key` or `?apikey=`. */
  apiKey?: string | null;
}

export type Authentication = { viewer: Viewer } | { viewer: null; problem: string | null };

/**
 * Turns the credentials of a request into a viewer. No credentials is anonymous (problem
 * null); bad ones are anonymous with a reason that unauthenticated errors repeat.
 */
export async function authenticate(credentials: Credentials): Promise<Authentication> {
  const value = credentials.bearer?.trim() || credentials.apiKey?.trim();
  if (!value) return { viewer: null, problem: null };
  if (isKeyShaped(value)) {
    const key = await lookupKey(value);
    if (!key) return { viewer: null, problem: 'This API key is invalid, revoked or expired.' };
    touchKey(key.id);
    return {
      viewer: { userId: key.userId, role: key.role, via: 'apiKey', apiKeyId: key.id, apiKeyHash: sha256(value), scopes: key.scopes, expiresAt: key.expiresAt },
    };
  }
  if (credentials.bearer && looksLikeJwt(value)) {
    const claims = await verifyAccessToken(value);
    if (!claims) return { viewer: null, problem: 'The access token is invalid or expired; refresh it or log in again.' };
    const session = await prisma.session.findUnique({
      where: { id: claims.sessionId },
      select: { revokedAt: true, userId: true, user: { select: { role: true, disabledAt: true } } },
    });
    if (!session || session.revokedAt || session.userId !== claims.userId || session.user.disabledAt) {
      return { viewer: null, problem: 'This session has ended; log in again.' };
    }
    return {
      viewer: { userId: claims.userId, role: session.user.role, via: 'session', sessionId: claims.sessionId, scopes: [], expiresAt: claims.expiresAt },
    };
  }
  return { viewer: null, problem: 'The credential is neither an access token nor an API key (lpf_…).' };
}
