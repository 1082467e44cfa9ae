import bcrypt from 'bcrypt';
import { z } from 'zod';
import { prisma, Prisma } from '../../db.js';
import type { EmailTokenPurpose, Role, User } from '../../generated/prisma/client.js';
import { notifyOutbox } from '../../jobs/outbox.js';
import { bus } from '../../bus.js';
import { AuthError, ConflictError, NotFoundError, ValidationError } from '../../lib/errors.js';
import { randomToken, sha256 } from '../../lib/secrets.js';
import { runtime } from '../../runtime.js';
import { queueMail } from '../mail/mail.service.js';
import { parseCurrency } from '../currency/currency.service.js';
import { LOCALES, parseLocale, passwordResetMail, toLocale, verificationMail, type Locale } from './account-mails.js';
import { REFRESH_TOKEN_TTL_MS, signAccessToken } from './tokens.js';

/** bcrypt cost; BCRYPT_ROUNDS (4–15) lowers it for test suites, never below bcrypt's minimum. */
export const BCRYPT_ROUNDS = Math.min(15, Math.max(4, Number(process.env.BCRYPT_ROUNDS) || 12));
const VERIFY_TTL_MS = 24 * 3600_000;
const RESET_TTL_MS = 3600_000;

// A real hash of a random password: comparing against it costs what a real check costs, so
// an unknown email takes as long as a wrong password.
const DUMMY_HASH = bcrypt.hashSync(randomToken(16), BCRYPT_ROUNDS);

export const emailSchema = z.string().trim().toLowerCase().max(254).pipe(z.email('must be a valid email address'));
export const passwordSchema = z
  .string()
  .min(8, 'must be at least 8 characters')
  .refine((p) => Buffer.byteLength(p) <= 72, 'must be at most 72 bytes');
export const usernameSchema = z
  .string()
  .trim()
  .min(3, 'must be at least 3 characters')
  .max(32, 'must be at most 32 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain letters, digits, dot, dash and underscore only');

export interface SessionMeta {
  ip: string | null;
  userAgent: string | null;
}

export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  user: User;
}

export const PERMISSIONS: Record<Role, string[]> = {
  user: ['account.manage', 'keys.manage', 'billing.read', 'proxy.use'],
  admin: ['account.manage', 'keys.manage', 'billing.read', 'proxy.use', 'admin.users', 'admin.ledger', 'admin.pricing'],
};

function parse<T>(schema: z.ZodType<T>, field: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(field, `${field} ${result.error.issues[0]?.message ?? 'is invalid'}`);
  return result.data;
}

const link = (path: string, token: string) => `${runtime().config.publicUrl}${path}?token=${encodeURIComponent(token)}`;

async function createEmailToken(tx: Prisma.TransactionClient, userId: number, purpose: EmailTokenPurpose, ttlMs: number) {
  // A new link supersedes earlier unused ones of the same purpose.
  await tx.emailToken.updateMany({ where: { userId, purpose, usedAt: null }, data: { usedAt: new Date() } });
  const token = randomToken();
  await tx.emailToken.create({
    data: { userId, purpose, tokenHash: sha256(token), expiresAt: new Date(Date.now() + ttlMs) },
  });
  return token;
}

/** Marks a single-use token used and returns its user id; refuses unknown, used or expired ones. */
async function consumeEmailToken(tx: Prisma.TransactionClient, token: string, purpose: EmailTokenPurpose): Promise<number> {
  const now = new Date();
  const row = await tx.emailToken.findUnique({ where: { tokenHash: sha256(token) } });
  if (!row || row.purpose !== purpose) throw new AuthError('INVALID_TOKEN', 'This link is invalid.');
  const claimed = await tx.emailToken.updateMany({
    where: { id: row.id, usedAt: null, expiresAt: { gt: now } },
    data: { usedAt: now },
  });
  if (claimed.count !== 1) {
    throw new AuthError('INVALID_TOKEN', row.usedAt ? 'This link was already used.' : 'This link has expired.');
  }
  return row.userId;
}

export async function register(input: { username: string; email: string; password: string }, locale: Locale) {
  const username = parse(usernameSchema, 'username', input.username);
  const email = parse(emailSchema, 'email', input.email);
  const password = parse(passwordSchema, 'password', input.password);
  const passwordHash = await bcrypt.hash(password, BCRYPT_ROUNDS);
  try {
    const user = await prisma.$transaction(async (tx) => {
      const user = await tx.user.create({
        data: { username, email, passwordHash, locale, settings: { create: {} } },
      });
      const token = await createEmailToken(tx, user.id, 'verify_email', VERIFY_TTL_MS);
      await queueMail(tx, verificationMail(email, locale, link('/auth/verify-email', token)));
      return user;
    });
    notifyOutbox();
    return user;
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const target = String((err.meta as { target?: unknown } | undefined)?.target ?? '') + err.message;
      throw target.includes('username')
        ? new ConflictError('This username is taken.')
        : new ConflictError('An account with this email already exists.');
    }
    throw err;
  }
}

export async function verifyEmail(token: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const userId = await consumeEmailToken(tx, token, 'verify_email');
    await tx.user.update({ where: { id: userId }, data: { emailVerifiedAt: new Date() } });
  });
}

/**
 * Sends a fresh verification link when the account exists and is unverified; never says which.
 * The mail is in `locale` when the request asked for one (fp-locale), else in the account's.
 */
export async function resendVerification(rawEmail: string, locale: Locale | null = null): Promise<void> {
  const email = parse(emailSchema, 'email', rawEmail);
  const user = await prisma.user.findUnique({ where: { email } });
  if (!user || user.emailVerifiedAt || user.disabledAt) return;
  await prisma.$transaction(async (tx) => {
    const token = await createEmailToken(tx, user.id, 'verify_email', VERIFY_TTL_MS);
    await queueMail(tx, verificationMail(email, locale ?? toLocale(user.locale), link('/auth/verify-email', token)));
  });
  notifyOutbox();
}

/** Mails a reset link, in `locale` when the request asked for one, else in the account's. */
export async function forgotPassword(rawEmail: string, locale: Locale | null = null): Promise<void> {
  const email = parse(emailSchema, 'email', rawEmail);
  const user = await prisma.user.findUnique({ where: { email } });
  if (!user || user.disabledAt) return;
  await prisma.$transaction(async (tx) => {
    const token = await createEmailToken(tx, user.id, 'reset_password', RESET_TTL_MS);
    await queueMail(tx, passwordResetMail(email, locale ?? toLocale(user.locale), link('/reset-password', token)));
  });
  notifyOutbox();
}

export async function resetPassword(token: string, newPassword: string): Promise<void> {
  const password = parse(passwordSchema, 'password', newPassword);
  const passwordHash = await bcrypt.hash(password, BCRYPT_ROUNDS);
  const ended = await prisma.$transaction(async (tx) => {
    const userId = await consumeEmailToken(tx, token, 'reset_password');
    // Receiving the link proves the mailbox, so a reset also verifies the email.
    const user = await tx.user.update({ where: { id: userId }, data: { passwordHash } });
    await tx.user.updateMany({ where: { id: userId, emailVerifiedAt: null }, data: { emailVerifiedAt: new Date() } });
    return { userId, sessionIds: await revokeSessions(tx, user.id, 'password_reset') };
  });
  announceEnded(ended.userId, ended.sessionIds);
}

async function revokeSessions(tx: Prisma.TransactionClient, userId: number, reason: string, keepSessionId?: string): Promise<string[]> {
  const revoked = await tx.session.updateManyAndReturn({
    where: { userId, revokedAt: null, ...(keepSessionId ? { id: { not: keepSessionId } } : {}) },
    data: { revokedAt: new Date(), revokeReason: reason },
    select: { id: true },
  });
  return revoked.map((s) => s.id);
}

/** Tells live connections opened with these sessions to close; call after the revocation commits. */
function announceEnded(userId: number, sessionIds: string[]): void {
  if (sessionIds.length) void bus.publish('session:ended', { userId, sessionIds });
}

export async function login(input: { email: string; password: string }, meta: SessionMeta): Promise<IssuedTokens> {
  const email = emailSchema.safeParse(input.email);
  const user = email.success ? await prisma.user.findUnique({ where: { email: email.data } }) : null;
  const ok = await bcrypt.compare(input.password, user?.passwordHash ?? DUMMY_HASH);
  if (!user || !ok || user.disabledAt) throw new AuthError('INVALID_CREDENTIALS', 'Wrong email or password.');
  if (!user.emailVerifiedAt) {
    throw new AuthError('EMAIL_NOT_VERIFIED', 'Confirm your email address first: follow the link we sent you, or ask for a new one.');
  }
  return issueSession(user, meta);
}

/** Starts a session (a refresh-token family) for a user who proved who they are. */
export async function issueSession(user: User, meta: SessionMeta): Promise<IssuedTokens> {
  const refreshToken = randomToken();
  const session = await prisma.session.create({
    data: {
      userId: user.id,
      ip: meta.ip,
      userAgent: meta.userAgent?.slice(0, 512) ?? null,
      refreshTokens: { create: { tokenHash: sha256(refreshToken), expiresAt: new Date(Date.now() + REFRESH_TOKEN_TTL_MS) } },
    },
  });
  const access = await signAccessToken({ userId: user.id, sessionId: session.id });
  return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, user };
}

/**
 * Exchanges a refresh token for a new pair. A token is good once: presenting a rotated token
 * again means it leaked, so the whole family (session) is revoked.
 */
export async function refresh(refreshToken: string): Promise<IssuedTokens> {
  const invalid = new AuthError('INVALID_TOKEN', 'This refresh token is invalid or expired.');
  const now = new Date();
  const next = randomToken();
  const result = await prisma.$transaction(async (tx) => {
    const row = await tx.refreshToken.findUnique({ where: { tokenHash: sha256(refreshToken) }, include: { session: { include: { user: true } } } });
    if (!row) return { error: invalid };
    const { session } = row;
    if (session.revokedAt || session.user.disabledAt || row.expiresAt <= now) return { error: invalid };
    const rotated = await tx.refreshToken.updateMany({ where: { id: row.id, rotatedAt: null }, data: { rotatedAt: now } });
    if (rotated.count !== 1) {
      await tx.session.update({ where: { id: session.id }, data: { revokedAt: now, revokeReason: 'refresh_token_reuse' } });
      return { error: invalid, ended: session };
    }
    await tx.refreshToken.create({
      data: { sessionId: session.id, tokenHash: sha256(next), expiresAt: new Date(now.getTime() + REFRESH_TOKEN_TTL_MS) },
    });
    await tx.session.update({ where: { id: session.id }, data: { lastUsedAt: now } });
    return { session };
  });
  // The reuse revocation must commit, so the error is raised after the transaction.
  if ('error' in result) {
    if (result.ended) announceEnded(result.ended.userId, [result.ended.id]);
    throw result.error;
  }
  const access = await signAccessToken({ userId: result.session.userId, sessionId: result.session.id });
  return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken: next, user: result.session.user };
}

/** Ends the session a refresh token belongs to (logout). Unknown tokens are ignored. */
export async function revokeRefreshToken(refreshToken: string): Promise<void> {
  const row = await prisma.refreshToken.findUnique({ where: { tokenHash: sha256(refreshToken) } });
  if (!row) return;
  await logout(row.sessionId);
}

export async function logout(sessionId: string): Promise<void> {
  const ended = await prisma.session.updateManyAndReturn({
    where: { id: sessionId, revokedAt: null },
    data: { revokedAt: new Date(), revokeReason: 'logout' },
    select: { userId: true },
  });
  if (ended[0]) announceEnded(ended[0].userId, [sessionId]);
}

/** Changes the password and ends every other session (all of them when called with an API key). */
export async function changePassword(
  viewer: { userId: number; sessionId?: string },
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  const user = await prisma.user.findUnique({ where: { id: viewer.userId } });
  if (!user) throw new NotFoundError('User');
  if (!user.passwordHash || !(await bcrypt.compare(input.currentPassword, user.passwordHash))) {
    throw new AuthError('INVALID_CREDENTIALS', 'The current password is wrong.');
  }
  const password = parse(passwordSchema, 'newPassword', input.newPassword);
  const passwordHash = await bcrypt.hash(password, BCRYPT_ROUNDS);
  const ended = await prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { id: user.id }, data: { passwordHash } });
    return revokeSessions(tx, user.id, 'password_changed', viewer.sessionId);
  });
  announceEnded(user.id, ended);
}

export async function getUser(userId: number): Promise<User> {
  const user = await prisma.user.findUnique({ where: { id: userId } });
  if (!user) throw new NotFoundError('User');
  return user;
}

/** Stores the caller's locale when a request carries a different supported one. */
export async function syncLocale(userId: number, locale: Locale): Promise<void> {
  await prisma.user.updateMany({ where: { id: userId, locale: { not: locale } }, data: { locale } });
}

/** The caller's display preferences: the currency amounts are shown in and the locale of mails. */
export async function updateProfileSettings(userId: number, input: { currency?: string | null; locale?: string | null }): Promise<User> {
  const data: { displayCurrency?: string; locale?: Locale } = {};
  if (input.currency !== undefined && input.currency !== null) data.displayCurrency = parseCurrency(input.currency, 'currency');
  if (input.locale !== undefined && input.locale !== null) {
    const locale = parseLocale(input.locale);
    if (!locale || locale !== input.locale.trim().toLowerCase()) throw new ValidationError('locale', `locale must be one of ${LOCALES.join(', ')}.`);
    data.locale = locale;
  }
  if (!Object.keys(data).length) throw new ValidationError('input', 'Give a currency or a locale to change.');
  return prisma.user.update({ where: { id: userId }, data });
}
