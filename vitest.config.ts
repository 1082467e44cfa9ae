import { defineConfig } from 'vitest/config';

export default defineConfig({
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
