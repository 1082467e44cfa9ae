import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { connectDatabase } from '../../src/db.js';

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

/**
 * Connects the app's `prisma` to a database of this test file's own before its tests (fresh
 * PostgreSQL with TEST_DATABASE_URL, else a fresh PGlite folder) and removes it after them.
 * The returned function gives the connection once `beforeAll` has run.
 */
export function databaseForThisFile(name: string): () => Awaited<ReturnType<typeof connectDatabase>> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `relais-${name}-`));
  let pgdb: Awaited<ReturnType<typeof freshPostgres>>;
  let db: Awaited<ReturnType<typeof connectDatabase>> | undefined;
  beforeAll(async () => {
    pgdb = await freshPostgres();
    db = await connectDatabase({ databaseUrl: pgdb?.url, dataDir });
  });
  afterAll(async () => {
    await db?.close();
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!db) throw new Error('the database is connected in beforeAll');
    return db;
  };
}
