import { RestVerifyEmailDocument } from '../../src/generated/graphql/graphql.js';
import { defineRoute, type RestRoute } from '../route.js';

/** Routes of the Le Proxy Français API (../shared/seeds/000_…): the rest arrive with the REST issue. */
export const leproxyRoutes: RestRoute<unknown, Record<string, unknown>>[] = [
  defineRoute({
    method: 'GET',
    path: '/auth/verify-email',
    operation: RestVerifyEmailDocument,
    variables: ({ query }) => ({ token: query.get('token') ?? '' }),
    result: (data) => {
      const r = data.verifyEmail;
      return r.__typename === 'MutationVerifyEmailSuccess'
        ? { body: { success: true, message: 'Email vérifié avec succès' } }
        : { error: { code: r.code, message: r.message } };
    },
  }),
];
