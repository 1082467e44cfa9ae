import path from 'node:path';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PrismaClient } from './generated/prisma/client.js';
import type { Config } from './config.js';
import { migrate, type MigrateResult, type SqlSession } from './migrations.js';

export { Prisma } from './generated/prisma/client.js';
export type { PrismaClient } from './generated/prisma/client.js';

/**
 * The one Prisma client of the process. Modules import it; it is never put in a GraphQL
 * context. `connectDatabase` assigns it (ESM live binding) before anything uses it.
 */
export let prisma: PrismaClient = undefined as unknown as PrismaClient;

export interface Database {
  kind: 'pglite' | 'postgres';
  /** A raw SQL session on its own connection (migrations, advisory locks). */
  openSession(): Promise<SqlSession>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Connects, applies pending migrations, and makes `prisma` usable. */
export async function connectDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Database & { migrated: MigrateResult }> {
  const db = config.databaseUrl ? await connectPostgres(config.databaseUrl) : await connectPGlite(config.dataDir);
  try {
    const session = await db.openSession();
    let migrated: MigrateResult;
    try {
      migrated = await migrate(session);
    } finally {
      await session.close();
    }
    prisma = db.client;
    return Object.assign(db, { migrated });
  } catch (err) {
    await db.close();
    throw err;
  }
}

// The drivers are loaded when used: a process on one database needs only its own.
async function connectPostgres(url: string): Promise<Database & { client: PrismaClient }> {
  const [{ PrismaPg }, { default: pg }] = await Promise.all([import('@prisma/adapter-pg'), import('pg')]);
  const adapter = new PrismaPg({ connectionString: url });
  const client = new PrismaClient({ adapter });
  return {
    kind: 'postgres',
    client,
    async openSession() {
      const conn = new pg.Client({ connectionString: url });
      await conn.connect();
      return {
        query: async (sql, params) => (await conn.query(sql, params as unknown[])).rows,
        exec: async (sql) => void (await conn.query(sql)),
        close: () => conn.end(),
      };
    },
    async ping() {
      await client.$queryRawUnsafe('SELECT 1');
    },
    close: () => client.$disconnect(),
  };
}

/**
 * PGlite is a single-process database: a second process opening the same folder would
 * corrupt it, so the folder is locked by pid while open.
 */
function lockDataDir(dir: string): () => void {
  const lockFile = path.join(dir, 'relais.pid');
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => rmSync(lockFile, { force: true });
    } catch {
      const holder = Number(readFileSync(lockFile, 'utf8'));
      if (holder && holder !== process.pid && alive(holder)) {
        throw new Error(
          `The embedded database in ${dir} is in use by process ${holder}. Stop it first, or point DATABASE_URL at PostgreSQL to run several processes.`,
        );
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`Could not lock ${lockFile}`);
}

async function connectPGlite(dataDir: string): Promise<Database & { client: PrismaClient }> {
  const dir = path.join(dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([import('@electric-sql/pglite'), import('pglite-prisma-adapter')]);
  const unlock = lockDataDir(dir);
  const lite = await PGlite.create(dir).catch((err: unknown) => {
    unlock();
    throw err;
  });
  const adapter = new PrismaPGlite(lite);
  const client = new PrismaClient({ adapter });
  return {
    kind: 'pglite',
    client,
    // PGlite has one connection; a session is that connection.
    async openSession() {
      return {
        query: async (sql, params) => (await lite.query(sql, params as unknown[])).rows as Record<string, unknown>[],
        exec: async (sql) => void (await lite.exec(sql)),
        close: async () => {},
      };
    },
    async ping() {
      await lite.query('SELECT 1');
    },
    async close() {
      if (lite.closed) return;
      await client.$disconnect();
      await lite.close();
      unlock();
    },
  };
}
