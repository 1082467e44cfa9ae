import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { CloseCode } from 'graphql-ws';
import type { ExecutionArgs } from 'graphql';
import type { Config } from './config.js';
import { connectDatabase, type Database } from './db.js';
import { initRuntime } from './runtime.js';
import { createLogger, setLogger, log } from './lib/logger.js';
import { configureMail } from './modules/mail/mail.service.js';
import { seedPricing } from './modules/pricing/pricing.service.js';
import { createOutboxRunner } from './jobs/outbox.js';
import { preloadKeys, resyncKeys, startKeyCacheInvalidation } from './modules/keys/key-cache.js';
import { connectBus, publishLocal } from './bus.js';
import { buildYoga, createContext, type RelaisYoga } from './graphql/yoga.js';
import { toLocale } from './modules/accounts/account-mails.js';
import { recheckSessions, startCredentialWatch, watchCredential, type CredentialWatch } from './modules/live/credential-watch.js';
import { isDashboardPath, serveDashboard } from './dashboard/serve.js';
import { BodyTooLargeError, sendFetchResponse, sendJson, toFetchRequest } from './http/fetch-bridge.js';
import type { Context } from './graphql/context.js';
import { createRestHandler, REST_MAX_BODY_BYTES } from '../rest-compat/index.js';
import type { Product } from './socks/index.js';
import { createSocksWorker, type SocksWorker } from './socks/worker-host.js';

export interface BuildOptions {
  /** Listen for SOCKS5 on ephemeral ports (tests) instead of the configured ones. */
  ephemeralSocks?: boolean;
}

export interface Started {
  port: number;
  socks: Partial<Record<Product, number>>;
}

export interface App {
  start(): Promise<Started>;
  stop(): Promise<void>;
  readonly db: Database;
  readonly yoga: RelaisYoga;
  /** The SOCKS5 worker thread; null when both SOCKS ports are off. */
  readonly socks: SocksWorker | null;
}

/**
 * Builds the whole product for one process: database (migrated), GraphQL over HTTP, SSE and
 * WebSocket, background jobs. Nothing listens until `start()`.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  setLogger(createLogger(config.logLevel));
  initRuntime(config);
  const db = await connectDatabase(config);
  if (db.migrated.applied.length) log.info({ applied: db.migrated.applied }, 'database migrated');
  if (db.migrated.modified.length) log.warn({ modified: db.migrated.modified }, 'applied migrations were modified since');
  // Before any state is read, so nothing another instance announces from here on is missed.
  const busConnection = await connectBus({ redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, onReconnect: resync });
  await seedPricing();
  await preloadKeys();
  configureMail(config.smtpUrl);
  const outbox = createOutboxRunner();
  const yoga = buildYoga();
  const rest = createRestHandler(yoga, {
    publicUrl: config.publicUrl,
    corsOrigins: config.corsOrigins,
    rateLimit: config.rateLimit,
    trustProxy: config.trustProxy,
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
  });

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' });
      else res.destroy();
    });
  });
  http.requestTimeout = 30_000;
  http.headersTimeout = 15_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (isDashboardPath(path)) return serveDashboard(req, res, path);
    if (path === '/readyz') {
      const [database, redis] = await Promise.all([
        Promise.race([
          db.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out')), 2000).unref()),
        ]).then(() => 'ok' as const, () => 'unreachable' as const),
        // Without Redis, a key revoked on another instance would keep working here: not ready.
        busConnection.redisHealth(),
      ]);
      const socks = socksWorker?.state();
      const ready = database === 'ok' && redis !== 'unreachable' && (socks === undefined || socks === 'running');
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', database, ...(redis ? { redis } : {}), ...(socks ? { socks } : {}) });
    }
    if (path === '/graphql') {
      let request: Request;
      try {
        request = await toFetchRequest(req, config.publicUrl);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          res.setHeader('connection', 'close');
          return sendJson(res, 413, { errors: [{ message: 'Request body too large (limit 1 MiB).', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
        }
        throw err;
      }
      const response = await yoga.fetch(request, { ip: req.socket.remoteAddress ?? null });
      return sendFetchResponse(res, response);
    }
    // Everything else is the REST layer's: its routes, /openapi.json, /docs, and its 404s.
    const request = await toFetchRequest(req, config.publicUrl, REST_MAX_BODY_BYTES).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) return null;
      throw err;
    });
    if (!request) {
      return sendFetchResponse(res, rest.payloadTooLarge({ url: req.url ?? '/', origin: req.headers.origin ?? null }));
    }
    return sendFetchResponse(res, await rest.handle(request, { ip: req.socket.remoteAddress ?? null }));
  }

  const wss = new WebSocketServer({ server: http, path: '/graphql', maxPayload: 1024 * 1024 });
  const wsServer = useServer<Record<string, unknown>, { context?: Context }>(
    {
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const bearer = typeof params.authorization === 'string' ? params.authorization.replace(/^Bearer\s+/i, '') : null;
        const apiKey = typeof params.apiKey === 'string' ? params.apiKey : null;
        const context = await createContext(
          { bearer, apiKey },
          { ip: ctx.extra.request.socket.remoteAddress ?? null, userAgent: ctx.extra.request.headers['user-agent'] ?? null, locale: toLocale(String(params.locale ?? '')) },
        );
        // Presented but refused credentials close the socket (4403); none means anonymous.
        if (!context.viewer && context.authProblem) return false;
        const extra = ctx.extra as { context?: Context; credential?: CredentialWatch };
        if (context.viewer) {
          // A credential that stops being valid (revoked, session ended, expired) closes the socket.
          const credential = watchCredential(context.viewer);
          const { socket } = ctx.extra;
          credential.signal.addEventListener('abort', () => socket.close(CloseCode.Forbidden, 'Forbidden'), { once: true });
          if (credential.signal.aborted || socket.readyState !== socket.OPEN) {
            credential.dispose();
            return false;
          }
          context.credentialEnded = credential.signal;
          extra.credential = credential;
        }
        extra.context = context;
        return true;
      },
      onClose: (ctx) => (ctx.extra as { credential?: CredentialWatch }).credential?.dispose(),
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, parse, validate } = yoga.getEnveloped({});
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: (ctx.extra as { context?: Context }).context,
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  const stopKeyCache = startKeyCacheInvalidation();
  const stopCredentialWatch = startCredentialWatch();
  let stopping: Promise<void> | null = null;

  // Port 0 in the configuration turns a product off; in tests (ephemeralSocks) it means any free port.
  const socksPorts: Partial<Record<Product, number>> = {};
  for (const [product, port] of [['shared', config.socksSharedPort], ['dedicated', config.socksDedicatedPort]] as const) {
    if (options.ephemeralSocks) socksPorts[product] = 0;
    else if (port !== 0) socksPorts[product] = port;
  }
  const socksWorker = Object.keys(socksPorts).length ? createSocksWorker(config, socksPorts) : null;

  return {
    db,
    yoga,
    socks: socksWorker,
    async start() {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => resolve());
      });
      outbox.start();
      const socks: Started['socks'] = (await socksWorker?.start()) ?? {};
      const port = (http.address() as AddressInfo).port;
      log.info({ port, socks, host: config.host, database: db.kind }, 'relais listening');
      return { port, socks };
    },
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
  };

  async function shutdown(): Promise<void> {
    // SOCKS first: closing its connections hands their last bytes to the meter, whose
    // final flush then writes them before the database closes.
    await socksWorker?.stop();
    await wsServer.dispose();
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections();
    });
    await outbox.stop();
    await rest.close();
    stopKeyCache();
    stopCredentialWatch();
    await busConnection.close();
    await db.close();
  }
}

/**
 * After Redis came back, events of the gap may be lost: reload the keys (raising what changed
 * as key events) and have the meter and the upstream pool reload what they hold.
 */
async function resync(): Promise<void> {
  const changed = await resyncKeys();
  publishLocal('pricing:changed', { userId: null });
  publishLocal('upstreams:changed', {});
  const sessionsEnded = await recheckSessions();
  log.info({ keysChanged: changed, sessionsEnded }, 'state re-synchronised after reconnecting to redis');
}
