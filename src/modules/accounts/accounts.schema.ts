import { builder } from '../../graphql/builder.js';
import { viewerOf } from '../../graphql/viewer.js';
import { AuthError, ConflictError, ValidationError } from '../../lib/errors.js';
import { Role } from '../../generated/prisma/enums.js';
import type { User } from '../../generated/prisma/client.js';
import type { Context } from '../../graphql/context.js';
import * as accounts from './accounts.service.js';
import { LOCALE_NAMES, LOCALES, toLocale, type Locale } from './account-mails.js';

export const RoleEnum = builder.enumType(Role, { name: 'Role' });

/** The locale the request named (fp-locale), if it is a supported one. */
const requestedLocale = (ctx: Context): Locale | null => (ctx.request.localeRequested ? toLocale(ctx.request.locale) : null);

export const UserType = builder.prismaObject('User', {
  fields: (t) => ({
    id: t.exposeID('id'),
    username: t.exposeString('username'),
    email: t.exposeString('email', { nullable: true }),
    walletAddress: t.exposeString('walletAddress', { nullable: true }),
    role: t.expose('role', { type: RoleEnum }),
    locale: t.exposeString('locale'),
    displayCurrency: t.exposeString('displayCurrency'),
    emailVerified: t.boolean({ resolve: (u) => u.emailVerifiedAt !== null }),
    balance: t.expose('balance', { type: 'Money' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

interface MeShape {
  user: User;
  permissions: string[];
  authenticatedWith: 'session' | 'apiKey';
}

const Me = builder.objectRef<MeShape>('Me').implement({
  description: 'The caller: account, balance, role and what the role permits.',
  fields: (t) => ({
    user: t.field({ type: UserType, resolve: (me) => me.user }),
    balance: t.field({ type: 'Money', resolve: (me) => me.user.balance }),
    role: t.field({ type: RoleEnum, resolve: (me) => me.user.role }),
    permissions: t.exposeStringList('permissions'),
    authenticatedWith: t.exposeString('authenticatedWith', { description: '"session" (access token) or "apiKey".' }),
  }),
});

export const AuthPayload = builder.objectRef<accounts.IssuedTokens>('AuthPayload').implement({
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', { description: 'JWT for `Authorization: Bearer`; short-lived.' }),
    accessTokenExpiresAt: t.expose('accessTokenExpiresAt', { type: 'DateTime' }),
    refreshToken: t.exposeString('refreshToken', { description: 'Single use: exchange it with `refreshToken` for a new pair.' }),
    user: t.field({ type: UserType, resolve: (p) => p.user }),
  }),
});

const RegisterInput = builder.inputType('RegisterInput', {
  fields: (t) => ({
    username: t.string({ required: true }),
    email: t.string({ required: true }),
    password: t.string({ required: true }),
  }),
});

const LocaleType = builder.objectRef<Locale>('Locale').implement({
  description: 'A language the API writes mails in.',
  fields: (t) => ({
    code: t.string({ resolve: (code) => code }),
    name: t.string({ description: 'In English.', resolve: (code) => LOCALE_NAMES[code].name }),
    nativeName: t.string({ description: 'In the language itself.', resolve: (code) => LOCALE_NAMES[code].nativeName }),
  }),
});

const UserSettingsInput = builder.inputType('UserSettingsInput', {
  description: 'Omitted fields stay as they are.',
  fields: (t) => ({
    currency: t.string({ description: 'Display currency, one of `currencies`.' }),
    locale: t.string({ description: 'Locale of mails, one of `locales`.' }),
  }),
});

builder.queryField('locales', (t) =>
  t.field({
    type: [LocaleType],
    description: 'Supported locales (English is the default and the fallback). Public.',
    skipTypeScopes: true,
    resolve: () => [...LOCALES],
  }),
);

builder.mutationField('updateUserSettings', (t) =>
  t.field({
    type: UserType,
    description: "Sets the caller's display currency and locale.",
    authScopes: { scope: 'account' },
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: UserSettingsInput, required: true }) },
    resolve: (_root, { input }, ctx) => accounts.updateProfileSettings(viewerOf(ctx).userId, input),
  }),
);

builder.queryField('me', (t) =>
  t.field({
    type: Me,
    authScopes: { scope: 'account' },
    resolve: async (_root, _args, ctx) => {
      const viewer = viewerOf(ctx);
      const user = await accounts.getUser(viewer.userId);
      return { user, permissions: accounts.PERMISSIONS[user.role], authenticatedWith: viewer.via };
    },
  }),
);

builder.mutationFields((t) => ({
  register: t.field({
    type: UserType,
    description: 'Creates an account and mails a verification link. Log-in is refused until the email is verified.',
    skipTypeScopes: true,
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: RegisterInput, required: true }) },
    resolve: (_root, { input }, ctx) => accounts.register(input, toLocale(ctx.request.locale)),
  }),
  verifyEmail: t.boolean({
    skipTypeScopes: true,
    errors: { types: [AuthError] },
    args: { token: t.arg.string({ required: true }) },
    resolve: async (_root, { token }) => (await accounts.verifyEmail(token), true),
  }),
  resendVerification: t.boolean({
    description: 'Always succeeds, whether or not the address has an unverified account.',
    skipTypeScopes: true,
    errors: { types: [ValidationError] },
    args: { email: t.arg.string({ required: true }) },
    resolve: async (_root, { email }, ctx) => (await accounts.resendVerification(email, requestedLocale(ctx)), true),
  }),
  login: t.field({
    type: AuthPayload,
    skipTypeScopes: true,
    errors: { types: [AuthError] },
    args: { email: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) =>
      accounts.login(args, { ip: ctx.request.ip, userAgent: ctx.request.userAgent }),
  }),
  refreshToken: t.field({
    type: AuthPayload,
    description: 'Rotates a refresh token. Presenting an already-rotated token revokes its whole session.',
    skipTypeScopes: true,
    errors: { types: [AuthError] },
    args: { refreshToken: t.arg.string({ required: true }) },
    resolve: (_root, args) => accounts.refresh(args.refreshToken),
  }),
  revokeRefreshToken: t.boolean({
    description: 'Ends the session the token belongs to (log out). Unknown tokens are ignored.',
    skipTypeScopes: true,
    args: { refreshToken: t.arg.string({ required: true }) },
    resolve: async (_root, args) => (await accounts.revokeRefreshToken(args.refreshToken), true),
  }),
  logout: t.boolean({
    description: 'Ends the current session (access-token callers only; an API key has no session).',
    resolve: async (_root, _args, ctx) => {
      const viewer = viewerOf(ctx);
      if (viewer.sessionId) await accounts.logout(viewer.sessionId);
      return true;
    },
  }),
  forgotPassword: t.boolean({
    description: 'Mails a reset link when the account exists; the answer never tells whether it does.',
    skipTypeScopes: true,
    errors: { types: [ValidationError] },
    args: { email: t.arg.string({ required: true }) },
    resolve: async (_root, { email }, ctx) => (await accounts.forgotPassword(email, requestedLocale(ctx)), true),
  }),
  resetPassword: t.boolean({
    description: 'Sets a new password from a mailed link and ends every session.',
    skipTypeScopes: true,
    errors: { types: [AuthError, ValidationError] },
    args: { token: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    resolve: async (_root, args) => (await accounts.resetPassword(args.token, args.password), true),
  }),
  changePassword: t.boolean({
    description: 'Changes the password and ends every other session.',
    authScopes: { scope: 'account' },
    errors: { types: [AuthError, ValidationError] },
    args: { currentPassword: t.arg.string({ required: true }), newPassword: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => (await accounts.changePassword(viewerOf(ctx), args), true),
  }),
}));
