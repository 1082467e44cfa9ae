import { defineConfig } from 'prisma/config';

// Relais applies migrations itself (src/db/migrate.ts); the CLI is used for `generate`
// and, where its schema engine is available, for `migrate diff`/`deploy` on the same folder.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(process.env.DATABASE_URL ? { datasource: { url: process.env.DATABASE_URL } } : {}),
});
