import bcrypt from 'bcrypt';
import { prisma, type Prisma } from '../../db.js';
import type { User } from '../../generated/prisma/client.js';
import { NotFoundError } from '../../lib/errors.js';
import { BCRYPT_ROUNDS, emailSchema, passwordSchema } from '../accounts/accounts.service.js';
import { ValidationError } from '../../lib/errors.js';

/**
 * Creates a verified administrator, or promotes the existing account with that email (and
 * sets its password).
 */
export async function createAdmin(input: { email: string; password: string }): Promise<User> {
  const email = emailSchema.safeParse(input.email);
  if (!email.success) throw new ValidationError('email', 'email must be a valid email address');
  const password = passwordSchema.safeParse(input.password);
  if (!password.success) throw new ValidationError('password', `password ${password.error.issues[0]?.message}`);
  const passwordHash = await bcrypt.hash(password.data, BCRYPT_ROUNDS);
  const base = email.data.split('@')[0]!.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 24) || 'admin';
  return prisma.user.upsert({
    where: { email: email.data },
    update: { role: 'admin', passwordHash, emailVerifiedAt: new Date() },
    create: {
      email: email.data,
      username: `${base}-${Date.now().toString(36)}`,
      passwordHash,
      role: 'admin',
      emailVerifiedAt: new Date(),
      settings: { create: {} },
    },
  });
}

export async function findUserByEmail(rawEmail: string): Promise<User> {
  const email = emailSchema.safeParse(rawEmail);
  const user = email.success ? await prisma.user.findUnique({ where: { email: email.data } }) : null;
  if (!user) throw new NotFoundError('User');
  return user;
}

const userSearch = (search?: string | null): Prisma.UserWhereInput =>
  search
    ? { OR: [{ email: { contains: search, mode: 'insensitive' } }, { username: { contains: search, mode: 'insensitive' } }] }
    : {};

/** `query` is the select/include/pagination a GraphQL resolver adds; the CLI passes none. */
export async function listUsers<Q extends Omit<Prisma.UserFindManyArgs, 'where' | 'orderBy'>>(search?: string | null, query?: Q) {
  return prisma.user.findMany({ ...query, where: userSearch(search), orderBy: { id: 'asc' } });
}

export async function getUserById<Q extends Omit<Prisma.UserFindUniqueArgs, 'where'>>(id: number, query?: Q) {
  const user = await prisma.user.findUnique({ ...query, where: { id } });
  if (!user) throw new NotFoundError('User');
  return user;
}
