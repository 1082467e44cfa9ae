import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { onTestFinished } from 'vitest';
import { graphql } from '../../src/generated/graphql/index.js';
import { liveSubscriptionCount } from '../../src/modules/live/live.service.js';
import type { TestServer } from '../helpers/server.js';

export const BalanceChanged = graphql(`
  subscription BalanceChanged($userId: ID) {
    balanceChanged(userId: $userId) {
      userId
      balance
      transaction { id type subtypeLabel amount balanceAfter note apiKeyId apiKeyName }
    }
  }
`);

export const UsageUpdated = graphql(`
  subscription UsageUpdated($userId: ID, $apiKeyId: ID) {
    usageUpdated(userId: $userId, apiKeyId: $apiKeyId) {
      userId apiKeyId product bytesIn bytesOut bytes cost remainingCredit at
    }
  }
`);

export const KeyChanged = graphql(`
  subscription KeyChanged($userId: ID) {
    keyChanged(userId: $userId) {
      change apiKeyId userId
      apiKey { id name active dailyLimit }
    }
  }
`);

export const ProxyStatusChanged = graphql(`
  subscription ProxyStatusChanged($userId: ID) {
    proxyStatusChanged(userId: $userId) { proxyId userId status previousStatus at }
  }
`);

export const OrderStatusChanged = graphql(`
  subscription OrderStatusChanged($userId: ID) {
    orderStatusChanged(userId: $userId) { orderId userId status previousStatus at }
  }
`);

export const DepositStatusChanged = graphql(`
  subscription DepositStatusChanged($userId: ID) {
    depositStatusChanged(userId: $userId) { transactionId userId status confirmations txHash chainId at }
  }
`);

export interface Closed {
  code: number;
  reason: string;
  at: number;
}

export interface LiveClient {
  client: Client;
  /** Resolves when the socket closes (the client does not retry). */
  closed: Promise<Closed>;
}

/** A graphql-ws client on the server's /graphql, connecting at once with these connection params. */
export function wsClient(server: TestServer, connectionParams?: Record<string, unknown>): LiveClient {
  let resolveClosed!: (c: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (resolveClosed = resolve));
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        const e = event as { code: number; reason: string };
        resolveClosed({ code: e.code, reason: String(e.reason), at: Date.now() });
      },
    },
  });
  onTestFinished(() => client.dispose());
  return { client, closed };
}

/** What one subscription received: results in order, then how it ended. */
export interface Subscription<R> {
  results: ExecutionResult<R>[];
  /** The next result not yet taken, or a failure after `ms`. */
  next(ms?: number): Promise<ExecutionResult<R>>;
  /** Resolves when the server completes it or the connection ends it (with the error, if any). */
  ended: Promise<{ error?: unknown; at: number }>;
  stop(): void;
}

export function subscribe<R, V extends Record<string, unknown>>(live: LiveClient, doc: TypedDocumentNode<R, V>, variables?: V): Subscription<R> {
  const results: ExecutionResult<R>[] = [];
  let taken = 0;
  let wake: () => void = () => {};
  let resolveEnded!: (e: { error?: unknown; at: number }) => void;
  const ended = new Promise<{ error?: unknown; at: number }>((resolve) => (resolveEnded = resolve));
  let isEnded = false;
  const end = (error?: unknown) => {
    isEnded = true;
    resolveEnded({ error, at: Date.now() });
    wake();
  };
  const stop = live.client.subscribe<R>(
    { query: print(doc), variables },
    {
      next: (value) => {
        results.push(value as ExecutionResult<R>);
        wake();
      },
      error: (err) => end(err),
      complete: () => end(),
    },
  );
  onTestFinished(() => stop());
  return {
    results,
    stop,
    ended,
    async next(ms = 5000) {
      const deadline = Date.now() + ms;
      while (taken >= results.length) {
        if (isEnded) throw new Error('subscription ended before the next result');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no result within ${ms} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => (clearTimeout(timer), resolve());
        });
      }
      return results[taken++]!;
    },
  };
}

/** Waits until `count` more subscriptions than `before` listen to the bus in the server. */
export async function listening(before: number, count = 1, ms = 5000): Promise<void> {
  await until(() => liveSubscriptionCount() >= before + count, ms, `${count} subscription(s) listening`);
}

/** `promise`, or a failure naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  /** The next `next` event's parsed data, or a failure after `ms` or at the end of the stream. */
  next(ms?: number): Promise<ExecutionResult<unknown>>;
  /** Resolves when the server ends the stream, with every event it sent. */
  ended: Promise<{ events: SseEvent[]; at: number }>;
  abort(): void;
}

/** Runs an operation over SSE (POST /graphql, Accept: text/event-stream) and reads the stream as it comes. */
export async function sse<R, V extends Record<string, unknown>>(
  server: TestServer,
  doc: TypedDocumentNode<R, V>,
  variables: V | undefined,
  headers: Record<string, string> = {},
): Promise<SseStream> {
  return readSse(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query: print(doc), variables }),
  });
}

/** Like `sse`, as a browser's EventSource does it: a GET of `url` (query, variables, apikey in it). */
export function sseGet(url: URL): Promise<SseStream> {
  return readSse(url.href, { headers: { accept: 'text/event-stream' } });
}

async function readSse(url: string, init: RequestInit): Promise<SseStream> {
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  const res = await fetch(url, { ...init, signal: controller.signal });
  const events: SseEvent[] = [];
  let taken = 0;
  let wake: () => void = () => {};
  let isEnded = false;
  const ended = (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let split: number;
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const lines = block.split('\n').filter((l) => !l.startsWith(':'));
          if (!lines.length) continue;
          const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? 'message';
          const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          events.push({ event, data });
          wake();
        }
      }
    } catch {
      // aborted by the test
    }
    isEnded = true;
    wake();
    return { events, at: Date.now() };
  })();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    ended,
    abort: () => controller.abort(),
    async next(ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        while (taken < events.length) {
          const e = events[taken++]!;
          if (e.event === 'next') return JSON.parse(e.data) as ExecutionResult<unknown>;
        }
        if (isEnded) throw new Error('stream ended before the next event');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no event within ${ms} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => (clearTimeout(timer), resolve());
        });
      }
    },
  };
}
