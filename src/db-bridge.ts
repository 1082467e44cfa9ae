/**
 * The database of another thread of this process, reached over a MessagePort.
 *
 * The embedded database (PGlite) is one connection in one thread, so a worker thread cannot
 * open it; it asks the thread that holds it instead. `serveDatabase` runs in that thread and
 * answers with its own driver adapter; `forwardedAdapter` is a Prisma driver adapter for the
 * worker that sends each query, script and transaction step across. A PrismaClient built on it
 * behaves like the main thread's (same SQL, same error mapping), so services run unchanged in
 * the worker. PostgreSQL goes the same way, so there is one path to test.
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

type Request =
  | { id: number; op: 'info' }
  | { id: number; op: 'query' | 'execute'; tx: number | null; query: SqlQuery }
  | { id: number; op: 'script'; script: string }
  | { id: number; op: 'begin'; isolationLevel: IsolationLevel | undefined }
  | { id: number; op: 'commit' | 'rollback'; tx: number };

type Call = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Response = { id: number; value: unknown } | { id: number; error: SerializedError };

interface SerializedError {
  name: string;
  message: string;
  /** A driver adapter error's mapped cause ({ kind, … }): what Prisma turns into P2002 and the like. */
  cause?: unknown;
}

const serializeError = (err: unknown): SerializedError => {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const cause = err.name === 'DriverAdapterError' ? (err as Error & { cause: unknown }).cause : undefined;
  return { name: err.name, message: err.message, ...(cause === undefined ? {} : { cause }) };
};

const reviveError = (e: SerializedError): Error => {
  const err = new Error(e.message, e.cause === undefined ? undefined : { cause: e.cause });
  err.name = e.name;
  return err;
};

/** Answers the queries of `forwardedAdapter` on the other end of `port` with an adapter from `factory`. */
export function serveDatabase(port: MessagePort, factory: SqlDriverAdapterFactory): () => Promise<void> {
  const adapter = factory.connect();
  const transactions = new Map<number, Transaction>();
  let nextTx = 1;

  async function run(req: Request): Promise<unknown> {
    const db = await adapter;
    switch (req.op) {
      case 'info':
        return db.getConnectionInfo?.() ?? null;
      case 'query':
      case 'execute': {
        const on = req.tx === null ? db : transactions.get(req.tx);
        if (!on) throw new Error(`transaction ${req.tx} is not open`);
        return req.op === 'query' ? on.queryRaw(req.query) : on.executeRaw(req.query);
      }
      case 'script':
        return db.executeScript(req.script);
      case 'begin': {
        const tx = await db.startTransaction(req.isolationLevel);
        const id = nextTx++;
        transactions.set(id, tx);
        return { tx: id, options: tx.options };
      }
      case 'commit':
      case 'rollback': {
        const tx = transactions.get(req.tx);
        if (!tx) throw new Error(`transaction ${req.tx} is not open`);
        transactions.delete(req.tx);
        return req.op === 'commit' ? tx.commit() : tx.rollback();
      }
    }
  }

  port.on('message', (req: Request) => {
    run(req).then(
      (value) => port.postMessage({ id: req.id, value } satisfies Response),
      (err: unknown) => port.postMessage({ id: req.id, error: serializeError(err) } satisfies Response),
    );
  });

  return async () => {
    // Transactions the other side left open (it stopped mid-way) must not hold the connection.
    for (const tx of transactions.values()) await tx.rollback().catch(() => {});
    transactions.clear();
    port.close();
    await (await adapter).dispose();
  };
}

/** A Prisma driver adapter whose database is the one `serveDatabase` serves on the other end of `port`. */
export function forwardedAdapter(port: MessagePort): SqlDriverAdapterFactory {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  port.on('message', (res: Response) => {
    const waiter = pending.get(res.id);
    if (!waiter) return;
    pending.delete(res.id);
    if ('error' in res) waiter.reject(reviveError(res.error));
    else waiter.resolve(res.value);
  });
  // Nothing in flight: the port must not keep the thread alive.
  port.unref();

  function call<T>(req: Call): Promise<T> {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (pending.size === 0) port.ref();
      pending.set(id, {
        resolve: (value) => {
          if (pending.size === 0) port.unref();
          resolve(value as T);
        },
        reject: (err) => {
          if (pending.size === 0) port.unref();
          reject(err);
        },
      });
      port.postMessage({ ...req, id } as Request);
    });
  }

  const queryable = (tx: number | null) => ({
    provider: 'postgres' as const,
    adapterName: 'relais-forwarded',
    queryRaw: (query: SqlQuery) => call<SqlResultSet>({ op: 'query', tx, query }),
    executeRaw: (query: SqlQuery) => call<number>({ op: 'execute', tx, query }),
  });

  return {
    provider: 'postgres',
    adapterName: 'relais-forwarded',
    async connect(): Promise<SqlDriverAdapter> {
      const info = await call<ConnectionInfo | null>({ op: 'info' });
      return {
        ...queryable(null),
        executeScript: (script) => call<void>({ op: 'script', script }),
        async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
          const { tx, options } = await call<{ tx: number; options: TransactionOptions }>({ op: 'begin', isolationLevel });
          return {
            ...queryable(tx),
            options,
            commit: () => call<void>({ op: 'commit', tx }),
            rollback: () => call<void>({ op: 'rollback', tx }),
          };
        },
        ...(info ? { getConnectionInfo: () => info } : {}),
        dispose: async () => {},
      };
    },
  };
}
