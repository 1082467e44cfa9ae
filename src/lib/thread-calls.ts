/**
 * Asynchronous function calls from one thread of this process to another over a MessagePort:
 * `answerCalls` runs in the thread that has the functions, `callsOver` gives the other thread
 * an object whose methods call them. Arguments and results cross by structured clone (plain
 * data, Dates, typed arrays; class instances arrive as plain objects). A rejection arrives as
 * an Error with the same name and message, and its `cause` when that is plain data.
 */
import type { MessagePort } from 'node:worker_threads';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handlers = Record<string, (...args: any[]) => unknown>;

interface CallMessage {
  id: number;
  name: string;
  args: unknown[];
}

type ResultMessage = { id: number; value: unknown } | { id: number; error: { name: string; message: string; cause?: unknown } };

/** The functions of `H` as another thread calls them: each asynchronous. */
export type Remote<H extends Handlers> = { [K in keyof H]: (...args: Parameters<H[K]>) => Promise<Awaited<ReturnType<H[K]>>> };

const errorOf = (err: unknown) => {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const cause = (err as { cause?: unknown }).cause;
  const plain = cause !== null && typeof cause === 'object' && Object.getPrototypeOf(cause) === Object.prototype;
  return { name: err.name, message: err.message, ...(plain ? { cause } : {}) };
};

/** Runs the calls arriving on `port`; returns what stops listening. */
export function answerCalls(port: MessagePort, handlers: Handlers): () => void {
  port.on('message', ({ id, name, args }: CallMessage) => {
    const handler = handlers[name];
    new Promise((resolve) => {
      if (!handler) throw new Error(`no function ${name} to call`);
      resolve(handler(...args));
    }).then(
      (value) => port.postMessage({ id, value } satisfies ResultMessage),
      (err: unknown) => port.postMessage({ id, error: errorOf(err) } satisfies ResultMessage),
    );
  });
  // Answering alone must not keep a thread alive.
  port.unref();
  return () => port.close();
}

/** The functions `answerCalls` serves at the other end of `port`, as methods of one object. */
export function callsOver<H extends Handlers>(port: MessagePort): Remote<H> {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  port.on('message', (res: ResultMessage) => {
    const waiter = pending.get(res.id);
    if (!waiter) return;
    pending.delete(res.id);
    // Nothing in flight: the port must not keep the thread alive.
    if (pending.size === 0) port.unref();
    if ('error' in res) {
      const err = new Error(res.error.message, res.error.cause === undefined ? undefined : { cause: res.error.cause });
      err.name = res.error.name;
      waiter.reject(err);
    } else {
      waiter.resolve(res.value);
    }
  });
  port.unref();
  const call = (name: string, args: unknown[]) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      if (pending.size === 0) port.ref();
      pending.set(id, { resolve, reject });
      port.postMessage({ id, name, args } satisfies CallMessage);
    });
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy({} as Remote<H>, {
    get(_, name) {
      // Not a thenable: awaiting the object itself must not call anything.
      if (typeof name !== 'string' || name === 'then') return undefined;
      let method = methods.get(name);
      if (!method) methods.set(name, (method = (...args: unknown[]) => call(name, args)));
      return method;
    },
  });
}
