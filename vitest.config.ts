import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql for everything: Vite would otherwise load its ESM build for test files
    // while Pothos and yoga (run by Node) load the CommonJS one, and types from two realms clash.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Each file starts its own server and database; two cores run two files at once.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    env: { BCRYPT_ROUNDS: '4', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
  },
});
