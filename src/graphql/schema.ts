import { builder } from './builder.js';
import './scalars.js';
import './errors.js';
import '../modules/accounts/accounts.schema.js';
import '../modules/keys/keys.schema.js';
import '../modules/ledger/ledger.schema.js';
import '../modules/admin/admin.schema.js';
import '../modules/usage/usage.schema.js';
import '../modules/pricing/pricing.schema.js';
import '../modules/settings/settings.schema.js';
import '../modules/currency/currency.schema.js';
import '../modules/wallet/wallet.schema.js';
import '../modules/deposits/deposits.schema.js';
import '../modules/live/live.schema.js';

// Deny by default: every root field needs an authenticated caller unless it opts out
// with `skipTypeScopes`.
builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { authenticated: true } });
// Subscriptions are authorized once, when they start (scopeAuth.authorizeOnSubscribe).
builder.subscriptionType({ authScopes: { authenticated: true } });

export const schema = builder.toSchema({ sortSchema: true });
