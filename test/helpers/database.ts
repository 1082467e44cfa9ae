import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * With TEST_DATABASE_URL set (or an admin URL given), every server a test starts gets a fresh
 * PostgreSQL database (created here, migrated by Relais, dropped at stop). Without it, a fresh PGlite folder.
 */
export async function freshPostgres(admin = process.env.TEST_DATABASE_URL): Promise<{ url: string; drop(): Promise<void> } | null> {
  if (!admin) return null;
  const name = `relais_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
