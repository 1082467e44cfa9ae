import { builder } from '../../graphql/builder.js';
import { toDbId } from '../../graphql/ids.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import * as admin from './admin.service.js';
import { UserType } from '../accounts/accounts.schema.js';
import { ApiKeyType } from '../keys/keys.schema.js';

builder.prismaObjectField(UserType, 'apiKeys', (t) =>
  t.relation('apiKeys', {
    description: 'Visible to administrators only.',
    authScopes: { admin: true },
    query: { orderBy: { id: 'asc' } },
  }),
);
void ApiKeyType;

builder.queryFields((t) => ({
  users: t.prismaConnection({
    type: 'User',
    cursor: 'id',
    description: 'Admin: every account, oldest first; `search` matches email or username.',
    authScopes: { admin: true },
    args: { search: t.arg.string() },
    resolve: (query, _root, { search }) => admin.listUsers(search, query),
  }),
  user: t.prismaField({
    type: 'User',
    description: 'Admin: one account.',
    authScopes: { admin: true },
    errors: { types: [NotFoundError, ValidationError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }) => admin.getUserById(toDbId(id), query),
  }),
}));
