import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from './context.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/**
 * Runs a subscription's operation once per event for all the subscribers that would get the
 * same result, instead of once per subscriber: a thousand dashboards open on one account cost
 * one execution per balance change, then a thousand sends. Results are shared between
 * subscriptions with the same document, operation and variables whose contexts are alike
 * (`shareKey`). Events are the bus's payload objects, delivered as the same object to every
 * listener of this process, so a WeakMap keyed by the event holds each event's results for
 * exactly as long as someone may still read them.
 */
const resultsByEvent = new WeakMap<object, Map<string, Result>>();
const documentIds = new WeakMap<object, number>();
let nextDocumentId = 1;

function shareKey(args: ExecutionArgs): string {
  let documentId = documentIds.get(args.document);
  if (documentId === undefined) documentIds.set(args.document, (documentId = nextDocumentId++));
  const context = args.contextValue as Context | undefined;
  const viewer = context?.viewer;
  // Everything a resolver could read from the context to shape a result: who (account, role,
  // credential and its scopes) and the locale messages are written in.
  return [
    documentId,
    args.operationName ?? '',
    JSON.stringify(args.variableValues ?? {}),
    viewer ? `${viewer.userId}:${viewer.role}:${viewer.via}:${viewer.apiKeyId ?? ''}:${viewer.scopes.join(',')}` : '-',
    context?.request.locale ?? '',
  ].join('\u0000');
}

function mapEvents<T>(source: AsyncIterator<T>, run: (event: T) => Result): AsyncIterableIterator<ExecutionResult> {
  return {
    async next() {
      const step = await source.next();
      return step.done ? { done: true, value: undefined } : { done: false, value: await run(step.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

async function sharedSubscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
  const key = shareKey(args);
  return mapEvents(source[Symbol.asyncIterator](), (event) => {
    if (typeof event !== 'object' || event === null) return execute({ ...args, rootValue: event });
    let results = resultsByEvent.get(event);
    if (!results) resultsByEvent.set(event, (results = new Map()));
    let result = results.get(key);
    if (!result) {
      executions++;
      results.set(key, (result = execute({ ...args, rootValue: event })));
    }
    return result;
  });
}

let executions = 0;

/** Subscription events executed so far, shared results counted once (tests). */
export const subscriptionExecutions = (): number => executions;

export const shareSubscriptionResults: Plugin = {
  onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(sharedSubscribe as never),
};
