/**
 * The database of another thread of this process, reached over a MessagePort.
 *
 * The embedded database (PGlite) is one connection in one thread, so a worker thread cannot
 * open it; it asks the thread that holds it instead. `serveDatabase` runs in that thread and
 * answers with its own driver adapter; `forwardedAdapter` is a Prisma driver adapter for the
 * worker that sends each query, script and transaction step across. A PrismaClient built on it
 * behaves like the main thread's (same SQL, same error mapping), so services run unchanged in
 * the worker. PostgreSQL goes the same way, so there is one path to test. Each step is a round
 * trip between the threads: fine for occasional work, not for a hot path.
 */
import type { MessagePort } from 'node:worker_threads';
import type {
  ConnectionInfo,
  IsolationLevel,
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  SqlResultSet,
  Transaction,
  TransactionOptions,
} from '@prisma/driver-adapter-utils';
import { answerCalls, callsOver } from './lib/thread-calls.js';

/** Answers the queries of `forwardedAdapter` on the other end of `port` with an adapter from `factory`. */
export function serveDatabase(port: MessagePort, factory: SqlDriverAdapterFactory): () => Promise<void> {
  const adapter = factory.connect();
  const transactions = new Map<number, Transaction>();
  let nextTx = 1;
  const on = async (tx: number | null) => {
    const queryable = tx === null ? await adapter : transactions.get(tx);
    if (!queryable) throw new Error(`transaction ${tx} is not open`);
    return queryable;
  };
  const close = async (tx: number, commit: boolean) => {
    const open = transactions.get(tx);
    if (!open) throw new Error(`transaction ${tx} is not open`);
    transactions.delete(tx);
    return commit ? open.commit() : open.rollback();
  };
  const handlers = {
    info: async () => (await adapter).getConnectionInfo?.() ?? null,
    query: async (tx: number | null, query: SqlQuery) => (await on(tx)).queryRaw(query),
    execute: async (tx: number | null, query: SqlQuery) => (await on(tx)).executeRaw(query),
    script: async (script: string) => (await adapter).executeScript(script),
    begin: async (isolationLevel?: IsolationLevel) => {
      const tx = await (await adapter).startTransaction(isolationLevel);
      const id = nextTx++;
      transactions.set(id, tx);
      return { tx: id, options: tx.options };
    },
    commit: (tx: number) => close(tx, true),
    rollback: (tx: number) => close(tx, false),
  };
  const stop = answerCalls(port, handlers);
  return async () => {
    stop();
    // Transactions the other side left open (it stopped mid-way) must not hold the connection.
    for (const tx of transactions.values()) await tx.rollback().catch(() => {});
    transactions.clear();
    await (await adapter).dispose();
  };
}

type DatabaseCalls = {
  info(): ConnectionInfo | null;
  query(tx: number | null, query: SqlQuery): SqlResultSet;
  execute(tx: number | null, query: SqlQuery): number;
  script(script: string): void;
  begin(isolationLevel?: IsolationLevel): { tx: number; options: TransactionOptions };
  commit(tx: number): void;
  rollback(tx: number): void;
};

/** A Prisma driver adapter whose database is the one `serveDatabase` serves on the other end of `port`. */
export function forwardedAdapter(port: MessagePort): SqlDriverAdapterFactory {
  // A driver adapter error crosses with its `cause` ({ kind, … }), which Prisma maps to P2002 and the like.
  const call = callsOver<DatabaseCalls>(port);
  const queryable = (tx: number | null) => ({
    provider: 'postgres' as const,
    adapterName: 'relais-forwarded',
    queryRaw: (query: SqlQuery) => call('query', tx, query),
    executeRaw: (query: SqlQuery) => call('execute', tx, query),
  });
  return {
    provider: 'postgres',
    adapterName: 'relais-forwarded',
    async connect(): Promise<SqlDriverAdapter> {
      const info = await call('info');
      return {
        ...queryable(null),
        executeScript: (script) => call('script', script),
        async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
          const { tx, options } = await call('begin', isolationLevel);
          return { ...queryable(tx), options, commit: () => call('commit', tx), rollback: () => call('rollback', tx) };
        },
        ...(info ? { getConnectionInfo: () => info } : {}),
        dispose: async () => {},
      };
    },
  };
}
