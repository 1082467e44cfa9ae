import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations tests and rest-compat send, checked against the
// committed schema.graphql.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/**/*.ts', 'rest-compat/**/*.graphql', '!src/generated/**'],
  ignoreNoDocuments: true,
  generates: {
    'src/generated/graphql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        scalars: { Money: 'string', Decimal: 'string', DateTime: 'string', BigInt: 'string', ID: 'string' },
      },
    },
  },
};

export default config;
