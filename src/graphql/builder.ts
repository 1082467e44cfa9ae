import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ErrorsPlugin from '@pothos/plugin-errors';
import ValidationPlugin from '@pothos/plugin-validation';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import type PrismaTypes from '../generated/pothos-types.js';
import { getDatamodel } from '../generated/pothos-types.js';
import { prisma, type Prisma } from '../db.js';
import { ForbiddenError, UnauthenticatedError, ValidationError } from '../lib/errors.js';
import type { Context } from './context.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  AuthScopes: { authenticated: boolean; admin: boolean; scope: string };
  Scalars: {
    Money: { Input: Prisma.Decimal; Output: Prisma.Decimal | string | number };
    Decimal: { Input: Prisma.Decimal; Output: Prisma.Decimal };
    DateTime: { Input: Date; Output: Date };
    BigInt: { Input: bigint; Output: bigint | number };
  };
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin, DataloaderPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({
      authenticated: ctx.viewer !== null,
      admin: ctx.viewer?.role === 'admin',
      scope: (scope: string) =>
        ctx.viewer !== null && (ctx.viewer.scopes.length === 0 || ctx.viewer.scopes.includes(scope)),
    }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, ctx) =>
      ctx.viewer ? new ForbiddenError() : new UnauthenticatedError(ctx.authProblem ?? undefined),
  },
  errors: { defaultTypes: [] },
  validation: {
    validationError: (result) => {
      const issue = result.issues[0];
      const field = (issue?.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)).join('.');
      return new ValidationError(field || 'input', issue?.message ?? 'Invalid input.');
    },
  },
  prisma: {
    client: () => prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === 'production' ? null : 'warn',
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
  },
});
