import { z } from 'zod';
import {
  RestBalanceDocument,
  RestChangePasswordDocument,
  RestCreateKeyDocument,
  RestDailyUsageDocument,
  RestForgotPasswordDocument,
  RestGetKeyDocument,
  RestKeyUsageDocument,
  RestLinkWalletDocument,
  RestListKeysDocument,
  RestLoginDocument,
  RestMeDocument,
  RestPricingDocument,
  RestRegenerateKeyDocument,
  RestRegisterDocument,
  RestResendVerificationDocument,
  RestResetPasswordDocument,
  RestRevealKeyDocument,
  RestRevokeKeyDocument,
  RestRotateWebhookSecretDocument,
  RestSettingsDocument,
  RestSubmitDepositDocument,
  RestTestWebhookDocument,
  RestTransactionsDocument,
  RestUnlinkWalletDocument,
  RestUpdateAlertsDocument,
  RestUpdateKeyDocument,
  RestUpdateLimitsDocument,
  RestUpdateWebhookDocument,
  RestUsageDocument,
  RestVerifyEmailDocument,
  RestWalletLoginDocument,
  RestWalletNonceDocument,
  type RestKeyFieldsFragment,
  type RestSettingsFieldsFragment,
  type RestTypeSummaryFragment,
} from '../../src/generated/graphql/graphql.js';
import { flag, int, intOrNull, iso, num } from '../json.js';
import { defineRoute, errorOf, type AnyRoute } from '../route.js';
import { amount, intParam, moneyNumber, nullableAmount, success, timestamp, windowAmounts, windowLimits } from '../schemas.js';

/**
 * Le Proxy Français (shared/seeds/000_…): every documented endpoint, same paths, bodies and
 * shapes. Money is a JSON number written from the exact decimal, ids are integers, flags are
 * 1/0, timestamps are ISO-8601 UTC with whole seconds. Errors: `{ "error", "code" }` (+ `field`
 * on validation errors), status from errors.ts. Comments note choices where the document is
 * silent.
 */

const AUTH = 'Authentification';
const KEYS = 'Clés API';
const USAGE = 'Usage & Solde';
const DEPOSITS = 'Dépôts';
const SETTINGS = 'Paramètres';
const WEBHOOKS = 'Webhooks';

const ok = <T extends object>(body: T) => ({ body: { success: true as const, ...body } });

// ───────────── shapes ─────────────

const keyListItem = z
  .object({
    id: z.number().int(),
    name: z.string(),
    key_preview: z.string().meta({ example: 'lpf_1f05...' }),
    active: z.union([z.literal(0), z.literal(1)]),
    daily_limit: nullableAmount,
    weekly_limit: nullableAmount,
    monthly_limit: nullableAmount,
  })
  .strict();
const keyObject = keyListItem.extend({ created_at: timestamp, last_used_at: timestamp.nullable() }).strict();

const listItem = (k: RestKeyFieldsFragment) => ({
  id: int(k.id),
  name: k.name,
  key_preview: k.preview,
  active: flag(k.active),
  daily_limit: num(k.dailyLimit),
  weekly_limit: num(k.weeklyLimit),
  monthly_limit: num(k.monthlyLimit),
});
const keyBody = (k: RestKeyFieldsFragment) => ({ ...listItem(k), created_at: iso(k.createdAt), last_used_at: iso(k.lastUsedAt) });

const settingsObject = z
  .object({
    daily_limit: nullableAmount,
    weekly_limit: nullableAmount,
    monthly_limit: nullableAmount,
    webhook_url: z.string().nullable(),
    webhook_events: z.object({ balanceLow: z.boolean(), deposit: z.boolean(), dailyUsage: z.boolean() }).strict(),
    alert_low_balance: z.boolean(),
    alert_threshold: amount,
    webhook_secret: z.string().nullable(),
    auto_reload_enabled: z.boolean(),
    auto_reload_threshold: amount,
    auto_reload_amount: amount,
    save_card_consent: z.boolean(),
  })
  .strict();

// webhook_events always carries the three documented events (false when off), not `{}`.
const settingsBody = (s: RestSettingsFieldsFragment) => ({
  daily_limit: num(s.dailyLimit),
  weekly_limit: num(s.weeklyLimit),
  monthly_limit: num(s.monthlyLimit),
  webhook_url: s.webhookUrl ?? null,
  webhook_events: { balanceLow: s.webhookEvents.balanceLow, deposit: s.webhookEvents.deposit, dailyUsage: s.webhookEvents.dailyUsage },
  alert_low_balance: s.alertLowBalance,
  alert_threshold: num(s.alertThreshold),
  webhook_secret: s.webhookSecret ?? null,
  auto_reload_enabled: s.autoReloadEnabled,
  auto_reload_threshold: num(s.autoReloadThreshold),
  auto_reload_amount: num(s.autoReloadAmount),
  save_card_consent: s.saveCardConsent,
});

const usagePoint = z.object({ mutualise: amount, dedie: amount, navigateur: amount, total: amount, deposits: amount }).strict();
const point = (p: { shared: string; dedicated: string; browser: string; total: string; deposits: string }) => ({
  mutualise: num(p.shared),
  dedie: num(p.dedicated),
  navigateur: num(p.browser),
  total: num(p.total),
  deposits: num(p.deposits),
});

const typeSummary = z
  .object({ total: amount, count: z.number().int(), by_subtype: z.record(z.string(), z.object({ total: amount, count: z.number().int() }).strict()) })
  .strict();
const summaryBody = (s: RestTypeSummaryFragment) => ({
  total: num(s.total),
  count: s.count,
  by_subtype: Object.fromEntries(s.bySubtype.map((b) => [b.label, { total: num(b.total), count: b.count }])),
});

const transactionObject = z
  .object({
    id: z.number().int(),
    type: z.enum(['deposit', 'consumption', 'adjustment']),
    subtype: z.number().int(),
    subtype_label: z.string(),
    amount,
    api_key_id: z.number().int().nullable(),
    api_key_name: z.string().nullable(),
    tx_hash: z.string().nullable(),
    status: z.enum(['pending', 'confirmed', 'failed']),
    confirmations: z.number().int(),
    currency: z.string().nullable(),
    chain_id: z.number().int().nullable(),
    created_at: timestamp,
  })
  .strict();

const walletUser = z.object({ id: z.number().int(), username: z.string(), email: z.string().nullable(), wallet_address: z.string().nullable() }).strict();
const walletUserBody = (u: { id: string; username: string; email?: string | null; walletAddress?: string | null }) => ({
  id: int(u.id),
  username: u.username,
  email: u.email ?? null,
  wallet_address: u.walletAddress ?? null,
});

const limitsBody = {
  daily_limit: moneyNumber.nullable().optional(),
  weekly_limit: moneyNumber.nullable().optional(),
  monthly_limit: moneyNumber.nullable().optional(),
};
// A limit sent as null removes it; one left out stays as it is.
const limitsInput = (b: { daily_limit?: number | null; weekly_limit?: number | null; monthly_limit?: number | null }) => ({
  dailyLimit: b.daily_limit === undefined ? undefined : b.daily_limit === null ? null : String(b.daily_limit),
  weeklyLimit: b.weekly_limit === undefined ? undefined : b.weekly_limit === null ? null : String(b.weekly_limit),
  monthlyLimit: b.monthly_limit === undefined ? undefined : b.monthly_limit === null ? null : String(b.monthly_limit),
});
const snakeLimits = { dailyLimit: 'daily_limit', weeklyLimit: 'weekly_limit', monthlyLimit: 'monthly_limit' };

const idParams = (params: Record<string, string>) => ({ id: params.id! });

export const leproxyRoutes: AnyRoute[] = [
  // ───────────── authentication ─────────────
  // Wallet sign-in arrives with its own issue: the operation validates the address, then
  // answers NOT_AVAILABLE_YET (501).
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/auth/nonce',
    tag: AUTH,
    summary: 'Obtenir un nonce pour la connexion wallet (SIWE)',
    auth: false,
    query: z.object({ address: z.string().describe('Adresse Ethereum (0x...)') }),
    response: z.object({ message: z.string(), nonce: z.string() }).strict(),
    operation: RestWalletNonceDocument,
    variables: ({ query }) => ({ address: query.address }),
    result: ({ walletNonce: r }) => (r.__typename === 'MutationWalletNonceSuccess' ? { body: { message: r.data.message, nonce: r.data.nonce } } : errorOf(r)),
  }),
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/wallet',
    tag: AUTH,
    summary: 'Connexion wallet',
    auth: false,
    limit: 'auth',
    body: z.object({ address: z.string(), signature: z.string(), message: z.string() }),
    response: z
      .object({
        token: z.string(),
        user: z.object({ id: z.number().int(), username: z.string(), wallet_address: z.string(), auth_type: z.literal('wallet') }).strict(),
      })
      .strict(),
    operation: RestWalletLoginDocument,
    variables: ({ body }) => body,
    result: ({ walletLogin: r }) =>
      r.__typename === 'MutationWalletLoginSuccess'
        ? {
            body: {
              token: r.data.accessToken,
              user: { id: int(r.data.user.id), username: r.data.user.username, wallet_address: r.data.user.walletAddress ?? '', auth_type: 'wallet' },
            },
          }
        : errorOf(r),
  }),
  // Answers 200 like the document (not 201). The verification mail is in the fp-locale language.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/register',
    tag: AUTH,
    summary: 'Inscription email',
    auth: false,
    limit: 'auth',
    body: z.object({ username: z.string(), email: z.string(), password: z.string() }),
    response: z.object({ success, message: z.string() }).strict(),
    operation: RestRegisterDocument,
    variables: ({ body }) => ({ input: body }),
    result: ({ register: r }) => (r.__typename === 'MutationRegisterSuccess' ? ok({ message: 'Email de confirmation envoyé' }) : errorOf(r)),
  }),
  // `token` is the access token (a 15-minute JWT for Authorization: Bearer). The refresh token
  // is deliberately not in this body: the document has none and REST integrations use API
  // keys; clients that need refresh use the GraphQL `login`/`refreshToken` pair.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/login',
    tag: AUTH,
    summary: 'Connexion email',
    auth: false,
    limit: 'auth',
    body: z.object({ email: z.string(), password: z.string() }),
    response: z.object({ token: z.string(), user: z.object({ id: z.number().int(), email: z.string().nullable() }).strict() }).strict(),
    operation: RestLoginDocument,
    variables: ({ body }) => body,
    result: ({ login: r }) =>
      r.__typename === 'MutationLoginSuccess'
        ? { body: { token: r.data.accessToken, user: { id: int(r.data.user.id), email: r.data.user.email ?? null } } }
        : errorOf(r),
  }),
  // With an API key or an access token alike. `email` is null for wallet-only accounts.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/auth/me',
    tag: AUTH,
    summary: 'Utilisateur courant + permissions',
    auth: true,
    response: z
      .object({
        user: z.object({ id: z.number().int(), email: z.string().nullable(), balance: amount }).strict(),
        role: z.enum(['user', 'admin']),
        permissions: z.array(z.string()),
      })
      .strict(),
    operation: RestMeDocument,
    variables: () => ({}),
    result: ({ me }) => ({
      body: { user: { id: int(me.user.id), email: me.user.email ?? null, balance: num(me.balance) }, role: me.role, permissions: me.permissions },
    }),
  }),
  // The link mailed at registration points here, so a browser opening it gets this JSON.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/auth/verify-email',
    tag: AUTH,
    summary: 'Vérifier email',
    auth: false,
    // A missing token is the same refusal as a wrong one (INVALID_TOKEN), like a broken link.
    query: z.object({ token: z.string().optional().describe('Token reçu par email') }),
    response: z.object({ success, message: z.string() }).strict(),
    operation: RestVerifyEmailDocument,
    variables: ({ query }) => ({ token: query.token ?? '' }),
    result: ({ verifyEmail: r }) => (r.__typename === 'MutationVerifyEmailSuccess' ? ok({ message: 'Email vérifié avec succès' }) : errorOf(r)),
  }),
  // Always 200 whether or not the address has an account waiting (no account discovery).
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/resend-verification',
    tag: AUTH,
    summary: 'Renvoyer email de vérification',
    auth: false,
    limit: 'auth',
    body: z.object({ email: z.string() }),
    response: z.object({ success }).strict(),
    operation: RestResendVerificationDocument,
    variables: ({ body }) => body,
    result: ({ resendVerification: r }) => (r.__typename === 'MutationResendVerificationSuccess' ? ok({}) : errorOf(r)),
  }),
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/forgot-password',
    tag: AUTH,
    summary: 'Demander reset mot de passe',
    auth: false,
    limit: 'auth',
    body: z.object({ email: z.string() }),
    response: z.object({ success, message: z.string() }).strict(),
    operation: RestForgotPasswordDocument,
    variables: ({ body }) => body,
    result: ({ forgotPassword: r }) =>
      r.__typename === 'MutationForgotPasswordSuccess' ? ok({ message: 'Si un compte existe, un email a été envoyé' }) : errorOf(r),
  }),
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/reset-password',
    tag: AUTH,
    summary: 'Réinitialiser mot de passe',
    auth: false,
    limit: 'auth',
    body: z.object({ token: z.string(), password: z.string() }),
    response: z.object({ success, message: z.string() }).strict(),
    operation: RestResetPasswordDocument,
    variables: ({ body }) => body,
    result: ({ resetPassword: r }) => (r.__typename === 'MutationResetPasswordSuccess' ? ok({ message: 'Mot de passe réinitialisé' }) : errorOf(r)),
  }),
  // The document keeps camelCase names on this one route; a wrong current password is 401.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/change-password',
    tag: AUTH,
    summary: 'Changer mot de passe',
    auth: true,
    limit: 'auth',
    body: z.object({ currentPassword: z.string(), newPassword: z.string() }),
    response: z.object({ success, message: z.string() }).strict(),
    operation: RestChangePasswordDocument,
    variables: ({ body }) => body,
    result: ({ changePassword: r }) => (r.__typename === 'MutationChangePasswordSuccess' ? ok({ message: 'Mot de passe modifié' }) : errorOf(r)),
    fields: { currentPassword: 'currentPassword', newPassword: 'newPassword' },
  }),
  // `user` (documented as `{}`) will be { id, username, email, wallet_address }.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/auth/link-wallet',
    tag: AUTH,
    summary: 'Lier un wallet au compte',
    auth: true,
    body: z.object({ address: z.string(), signature: z.string() }),
    response: z.object({ success, merged: z.boolean(), user: walletUser }).strict(),
    operation: RestLinkWalletDocument,
    variables: ({ body }) => body,
    result: ({ linkWallet: r }) =>
      r.__typename === 'MutationLinkWalletSuccess' ? ok({ merged: r.data.merged, user: walletUserBody(r.data.user) }) : errorOf(r),
  }),
  defineRoute({
    family: 'leproxy',
    method: 'DELETE',
    path: '/auth/unlink-wallet',
    tag: AUTH,
    summary: 'Délier wallet du compte',
    auth: true,
    response: z.object({ success, user: walletUser }).strict(),
    operation: RestUnlinkWalletDocument,
    variables: () => ({}),
    result: ({ unlinkWallet: r }) => (r.__typename === 'MutationUnlinkWalletSuccess' ? ok({ user: walletUserBody(r.data) }) : errorOf(r)),
  }),

  // ───────────── API keys ─────────────
  // Revoked keys are listed too, with active: 0 (oldest first), like GraphQL `apiKeys`.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys',
    tag: KEYS,
    summary: 'Lister vos clés API',
    auth: true,
    response: z.object({ keys: z.array(keyListItem) }).strict(),
    operation: RestListKeysDocument,
    variables: () => ({}),
    result: ({ apiKeys }) => ({ body: { keys: apiKeys.map(listItem) } }),
  }),
  // 200 like the document. The 11th active key is LIMIT_REACHED (403).
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/keys',
    tag: KEYS,
    summary: 'Créer une clé API',
    description: 'Max 10 clés actives par utilisateur.',
    auth: true,
    body: z.object({ name: z.string(), ...limitsBody }),
    response: z.object({ key: keyObject.extend({ key: z.string() }).strict() }).strict(),
    operation: RestCreateKeyDocument,
    variables: ({ body }) => ({ input: { name: body.name, ...limitsInput(body) } }),
    result: ({ createApiKey: r }) => {
      if (r.__typename !== 'MutationCreateApiKeySuccess') return errorOf(r);
      const { key, apiKey } = r.data;
      // Field order of the document: key_preview, then the full key.
      const { id, name, key_preview, ...rest } = keyBody(apiKey);
      return { body: { key: { id, name, key_preview, key, ...rest } } };
    },
    fields: snakeLimits,
  }),
  // Another user's key, a revoked-and-gone id or a non-numeric id: 404 / 404 / 400 (field id).
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/:id',
    tag: KEYS,
    summary: "Détail d'une clé",
    auth: true,
    response: z.object({ key: keyObject }).strict(),
    operation: RestGetKeyDocument,
    variables: ({ params }) => idParams(params),
    result: ({ apiKey: r }) => (r.__typename === 'QueryApiKeySuccess' ? { body: { key: keyBody(r.data) } } : errorOf(r)),
  }),
  // `key` (documented as `{}`) is the updated key, as GET /keys/:id shows it. A revoked key is 409.
  defineRoute({
    family: 'leproxy',
    method: 'PUT',
    path: '/keys/:id',
    tag: KEYS,
    summary: 'Modifier une clé',
    auth: true,
    body: z.object({ name: z.string().optional(), ...limitsBody }),
    response: z.object({ success, key: keyObject }).strict(),
    operation: RestUpdateKeyDocument,
    variables: ({ params, body }) => ({ ...idParams(params), input: { name: body.name, ...limitsInput(body) } }),
    result: ({ updateApiKey: r }) => (r.__typename === 'MutationUpdateApiKeySuccess' ? ok({ key: keyBody(r.data) }) : errorOf(r)),
    fields: snakeLimits,
  }),
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/:id/reveal',
    tag: KEYS,
    summary: 'Révéler la clé complète',
    auth: true,
    response: z.object({ key: z.string() }).strict(),
    operation: RestRevealKeyDocument,
    variables: ({ params }) => idParams(params),
    result: ({ revealApiKey: r }) => (r.__typename === 'MutationRevealApiKeySuccess' ? { body: { key: r.data } } : errorOf(r)),
  }),
  defineRoute({
    family: 'leproxy',
    method: 'PUT',
    path: '/keys/:id/regenerate',
    tag: KEYS,
    summary: 'Regénérer une clé',
    auth: true,
    response: z.object({ success, key: z.string() }).strict(),
    operation: RestRegenerateKeyDocument,
    variables: ({ params }) => idParams(params),
    result: ({ regenerateApiKey: r }) => (r.__typename === 'MutationRegenerateApiKeySuccess' ? ok({ key: r.data.key }) : errorOf(r)),
  }),
  // Revoking an already revoked key succeeds again (idempotent).
  defineRoute({
    family: 'leproxy',
    method: 'DELETE',
    path: '/keys/:id',
    tag: KEYS,
    summary: 'Révoquer une clé',
    description: 'La clé est immédiatement désactivée et ne peut plus être utilisée.',
    auth: true,
    response: z.object({ success }).strict(),
    operation: RestRevokeKeyDocument,
    variables: ({ params }) => idParams(params),
    result: ({ revokeApiKey: r }) => (r.__typename === 'MutationRevokeApiKeySuccess' ? ok({}) : errorOf(r)),
  }),

  // ───────────── usage and balance ─────────────
  // Called with a key, the key's own limits count too; with an access token, the account's.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/usage',
    tag: USAGE,
    summary: 'Crédits restants (tient compte de toutes les limites)',
    auth: true,
    response: z.object({ remaining: amount }).strict(),
    operation: RestUsageDocument,
    variables: () => ({}),
    result: ({ usage }) => ({ body: { remaining: num(usage.remaining) } }),
  }),
  // Each entry of `keys` (documented with `{}` windows) has the same limits/used/remaining as `global`.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/usage',
    tag: USAGE,
    summary: 'Usage détaillé par clé',
    auth: true,
    response: z
      .object({
        global: z.object({ limits: windowLimits, used: windowAmounts, remaining: windowLimits }).strict(),
        keys: z.array(z.object({ id: z.number().int(), name: z.string(), limits: windowLimits, used: windowAmounts, remaining: windowLimits }).strict()),
      })
      .strict(),
    operation: RestKeyUsageDocument,
    variables: () => ({}),
    result: ({ keyUsage }) => {
      const w = (x: { daily?: string | null; weekly?: string | null; monthly?: string | null }) => ({ daily: num(x.daily), weekly: num(x.weekly), monthly: num(x.monthly) });
      const windows = (u: (typeof keyUsage)['global']) => ({ limits: w(u.limits), used: w(u.used), remaining: w(u.remaining) });
      return { body: { global: windows(keyUsage.global), keys: keyUsage.keys.map((k) => ({ id: int(k.id), name: k.name, ...windows(k) })) } };
    },
  }),
  // `daily` is keyed by UTC date, oldest first; `hourly` has today's 24 UTC hours, the index
  // being the hour (the document shows no hour field, so none is added).
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/usage/daily',
    tag: USAGE,
    summary: 'Consommation journalière par type',
    auth: true,
    query: z.object({ days: intParam.optional().describe('Nombre de jours (1-90, défaut 7)') }),
    response: z.object({ daily: z.record(z.string(), usagePoint), hourly: z.array(usagePoint) }).strict(),
    operation: RestDailyUsageDocument,
    variables: ({ query }) => ({ days: query.days ?? null }),
    result: ({ dailyUsage }) => ({
      body: { daily: Object.fromEntries(dailyUsage.daily.map((d) => [d.date, point(d)])), hourly: dailyUsage.hourly.map(point) },
    }),
  }),
  // `summary` always has deposit, consumption and adjustment (the type filter of
  // /keys/transactions documents all three), so the totals add up to the balance;
  // `by_subtype` is keyed by the subtype label.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/balance',
    tag: USAGE,
    summary: 'Solde et résumé des transactions',
    auth: true,
    response: z.object({ balance: amount, summary: z.object({ deposit: typeSummary, consumption: typeSummary, adjustment: typeSummary }).strict() }).strict(),
    operation: RestBalanceDocument,
    variables: () => ({}),
    result: ({ balanceSummary: b }) => ({
      body: {
        balance: num(b.balance),
        summary: { deposit: summaryBody(b.summary.deposit), consumption: summaryBody(b.summary.consumption), adjustment: summaryBody(b.summary.adjustment) },
      },
    }),
  }),
  // Every tier of the grid, the 0-credit base tier included.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/pricing',
    tag: USAGE,
    summary: 'Grille tarifaire',
    auth: true,
    response: z.object({ rate: amount, grid: z.string(), tiers: z.array(z.object({ min_credits: amount, rate: amount }).strict()) }).strict(),
    operation: RestPricingDocument,
    variables: () => ({}),
    result: ({ pricing }) => ({
      body: { rate: num(pricing.rate), grid: pricing.grid, tiers: pricing.tiers.map((t) => ({ min_credits: num(t.minCredits), rate: num(t.rate) })) },
    }),
  }),
  // Newest first. `limit` over 100 or `page` under 1 is a 400 naming the field (not clamped).
  // tx_hash, currency and chain_id are null on rows that are not payments.
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/transactions',
    tag: USAGE,
    summary: 'Historique des transactions',
    auth: true,
    query: z.object({
      page: intParam.optional().describe('Page (défaut 1)'),
      limit: intParam.optional().describe('Limite (défaut 20, max 100)'),
      type: z.enum(['deposit', 'consumption', 'adjustment']).optional().describe('deposit | consumption | adjustment'),
      subtype: intParam.optional().describe('Sous-type'),
      api_key_id: intParam.optional().describe('Filtrer par clé'),
    }),
    response: z.object({ transactions: z.array(transactionObject), total: z.number().int(), page: z.number().int(), limit: z.number().int() }).strict(),
    operation: RestTransactionsDocument,
    variables: ({ query }) => ({
      page: query.page ?? null,
      limit: query.limit ?? null,
      type: query.type ?? null,
      subtype: query.subtype ?? null,
      apiKeyId: query.api_key_id === undefined ? null : String(query.api_key_id),
    }),
    result: ({ transactions: t }) => ({
      body: {
        transactions: t.items.map((x) => ({
          id: int(x.id),
          type: x.type,
          subtype: x.subtype,
          subtype_label: x.subtypeLabel,
          amount: num(x.amount),
          api_key_id: intOrNull(x.apiKeyId),
          api_key_name: x.apiKeyName ?? null,
          tx_hash: x.txHash ?? null,
          status: x.status,
          confirmations: x.confirmations,
          currency: x.currency ?? null,
          chain_id: x.chainId ?? null,
          created_at: iso(x.createdAt),
        })),
        total: t.total,
        page: t.page,
        limit: t.limit,
      },
    }),
    fields: { apiKeyId: 'api_key_id' },
  }),

  // ───────────── deposits ─────────────
  // On-chain verification arrives with the deposits issue: a valid submission is 501
  // (NOT_AVAILABLE_YET) until then; currency defaults to usdt and chain_id to 1.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/keys/deposit',
    tag: DEPOSITS,
    summary: 'Soumettre un dépôt crypto (montant vérifié on-chain)',
    description: 'currency: usdt | eth. chain_id: 1=Ethereum, 137=Polygon, 56=BSC, 8453=Base, 43114=Avalanche, 560048=Hoodi',
    auth: true,
    body: z.object({ tx_hash: z.string(), currency: z.string().optional(), chain_id: z.number().int().optional() }),
    response: z.object({ success, status: z.enum(['pending', 'confirmed', 'failed']) }).strict(),
    operation: RestSubmitDepositDocument,
    variables: ({ body }) => ({ input: { txHash: body.tx_hash, currency: body.currency ?? null, chainId: body.chain_id ?? null } }),
    result: ({ submitDeposit: r }) => (r.__typename === 'MutationSubmitDepositSuccess' ? ok({ status: r.data.status }) : errorOf(r)),
  }),

  // ───────────── settings ─────────────
  // webhook_secret is shown to its owner, as documented (stored encrypted).
  defineRoute({
    family: 'leproxy',
    method: 'GET',
    path: '/keys/settings',
    tag: SETTINGS,
    summary: 'Récupérer les paramètres',
    auth: true,
    response: z.object({ settings: settingsObject }).strict(),
    operation: RestSettingsDocument,
    variables: () => ({}),
    result: ({ accountSettings }) => ({ body: { settings: settingsBody(accountSettings) } }),
  }),
  // `settings` (documented as `{}`) is the whole settings object, as GET shows it.
  defineRoute({
    family: 'leproxy',
    method: 'PUT',
    path: '/keys/settings',
    tag: SETTINGS,
    summary: 'Modifier les limites globales',
    auth: true,
    body: z.object(limitsBody),
    response: z.object({ success, settings: settingsObject }).strict(),
    operation: RestUpdateLimitsDocument,
    variables: ({ body }) => ({ input: limitsInput(body) }),
    result: ({ updateAccountLimits: r }) =>
      r.__typename === 'MutationUpdateAccountLimitsSuccess' ? ok({ settings: settingsBody(r.data) }) : errorOf(r),
    fields: snakeLimits,
  }),
  defineRoute({
    family: 'leproxy',
    method: 'PUT',
    path: '/keys/settings/alerts',
    tag: SETTINGS,
    summary: 'Configurer alertes et rechargement auto',
    auth: true,
    body: z.object({
      alert_low_balance: z.boolean().optional(),
      alert_threshold: moneyNumber.optional(),
      auto_reload_enabled: z.boolean().optional(),
      auto_reload_threshold: moneyNumber.optional(),
      auto_reload_amount: moneyNumber.optional(),
      save_card_consent: z.boolean().optional(),
    }),
    response: z.object({ success }).strict(),
    operation: RestUpdateAlertsDocument,
    variables: ({ body }) => ({
      input: {
        alertLowBalance: body.alert_low_balance,
        alertThreshold: body.alert_threshold === undefined ? undefined : String(body.alert_threshold),
        autoReloadEnabled: body.auto_reload_enabled,
        autoReloadThreshold: body.auto_reload_threshold === undefined ? undefined : String(body.auto_reload_threshold),
        autoReloadAmount: body.auto_reload_amount === undefined ? undefined : String(body.auto_reload_amount),
        saveCardConsent: body.save_card_consent,
      },
    }),
    result: ({ updateAlertSettings: r }) => (r.__typename === 'MutationUpdateAlertSettingsSuccess' ? ok({}) : errorOf(r)),
    fields: {
      alertLowBalance: 'alert_low_balance',
      alertThreshold: 'alert_threshold',
      autoReloadEnabled: 'auto_reload_enabled',
      autoReloadThreshold: 'auto_reload_threshold',
      autoReloadAmount: 'auto_reload_amount',
      saveCardConsent: 'save_card_consent',
    },
  }),

  // ───────────── webhooks ─────────────
  // Stored for real: the URL (http or https; null removes it) and the events (left-out events
  // are off, unknown ones ignored). The first configuration creates the HMAC secret, later
  // ones keep it; the answer always carries the current secret. Delivery itself, and so the
  // egress check of the URL, arrive with the webhooks issue.
  defineRoute({
    family: 'leproxy',
    method: 'PUT',
    path: '/keys/settings/webhooks',
    tag: WEBHOOKS,
    summary: 'Configurer le webhook',
    description: 'Events: { balanceLow: bool, deposit: bool, dailyUsage: bool }',
    auth: true,
    body: z.object({
      webhook_url: z.string().nullable(),
      webhook_events: z.object({ balanceLow: z.boolean().optional(), deposit: z.boolean().optional(), dailyUsage: z.boolean().optional() }),
    }),
    response: z.object({ success, webhook_secret: z.string() }).strict(),
    operation: RestUpdateWebhookDocument,
    variables: ({ body }) => ({ url: body.webhook_url, events: body.webhook_events }),
    result: ({ updateWebhook: r }) =>
      r.__typename === 'MutationUpdateWebhookSuccess' ? ok({ webhook_secret: r.data.webhookSecret ?? '' }) : errorOf(r),
    fields: { url: 'webhook_url', events: 'webhook_events' },
  }),
  // Delivery arrives with the webhooks issue: 501 NOT_AVAILABLE_YET until then, never a fake 200.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/keys/settings/webhooks/test',
    tag: WEBHOOKS,
    summary: 'Tester le webhook',
    auth: true,
    response: z.object({ success, status: z.number().int() }).strict(),
    operation: RestTestWebhookDocument,
    variables: () => ({}),
    result: ({ testWebhook: r }) => (r.__typename === 'MutationTestWebhookSuccess' ? ok({ status: r.data.status }) : errorOf(r)),
  }),
  // Works with or without a configured URL: the new secret is kept for when one is set.
  defineRoute({
    family: 'leproxy',
    method: 'POST',
    path: '/keys/settings/webhooks/rotate-secret',
    tag: WEBHOOKS,
    summary: 'Renouveler la clé HMAC',
    auth: true,
    response: z.object({ success, webhook_secret: z.string() }).strict(),
    operation: RestRotateWebhookSecretDocument,
    variables: () => ({}),
    result: ({ rotateWebhookSecret: s }) => ok({ webhook_secret: s.webhookSecret ?? '' }),
  }),
];
