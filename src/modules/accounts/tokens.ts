import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { runtime } from '../../runtime.js';

export const ACCESS_TOKEN_TTL_S = 15 * 60;
export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 3600_000;

export interface AccessClaims {
  userId: number;
  sessionId: string;
}

export async function signAccessToken(claims: AccessClaims): Promise<{ token: string; expiresAt: Date }> {
  const expiresAt = new Date(Date.now() + ACCESS_TOKEN_TTL_S * 1000);
  const token = await new SignJWT({ sid: claims.sessionId, typ: 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(claims.userId))
    .setIssuedAt()
    .setIssuer('relais')
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(runtime().secrets.jwtKey);
  return { token, expiresAt };
}

/** Returns the claims of a valid access token, or null (tampered, expired, wrong type). */
export async function verifyAccessToken(token: string): Promise<(AccessClaims & { expiresAt: Date }) | null> {
  try {
    const { payload } = await jwtVerify(token, runtime().secrets.jwtKey, { issuer: 'relais', algorithms: ['HS256'], requiredClaims: ['exp'] });
    if (payload.typ !== 'access' || typeof payload.sid !== 'string' || !payload.sub) return null;
    const userId = Number(payload.sub);
    return Number.isSafeInteger(userId) ? { userId, sessionId: payload.sid, expiresAt: new Date(payload.exp! * 1000) } : null;
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return null;
    throw err;
  }
}

export const looksLikeJwt = (value: string): boolean => value.split('.').length === 3;
