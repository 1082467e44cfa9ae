import type { LookupAddress } from 'node:dns';
import type { EgressPolicy } from './egress.js';

export type Product = 'shared' | 'dedicated';

export interface SocksGate {
  /**
   * Decides on the raw RFC 1929 username (options such as `-country-fr` included); the password
   * is not consulted. Runs on the hot path of every connection, so it must answer from memory.
   * `auth` fails the authentication; `not_allowed` lets it pass and refuses the request
   * with REP 0x02, which is how curl reports "no credit left".
   */
  authorize(username: string, product: Product): AuthDecision;
}

export type AuthDecision =
  | { readonly ok: true; readonly grant: Grant }
  | { readonly ok: false; readonly reason: 'auth' | 'not_allowed' };

export type UpstreamId = string | number;

export type Route = { readonly kind: 'direct' } | UpstreamRoute;

/** Reach the target through another SOCKS5 proxy, which resolves domain names itself. */
export interface UpstreamRoute {
  readonly kind: 'upstream';
  readonly id: UpstreamId;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

export interface Grant {
  /** Groups connections for the per-key cap. */
  readonly key: string;
  /** Chooses how to reach the target, once per CONNECT request. */
  route(): Route | Promise<Route>;
  /** Called when a CONNECT request is accepted, before the target is dialled. */
  open(conn: MeteredConnection): void;
  /** Called once per `open`, when both sockets are closed and the counters are final. */
  close(conn: MeteredConnection): void;
  /** The upstream could not be reached or would not negotiate; answers it sent about the target do not count. */
  reportUpstreamFailure?(id: UpstreamId): void;
  /**
   * Called for every relayed chunk, on the data path: spends up to `bytes` from the key's
   * budget and returns how many of them may be forwarded (fewer when the budget runs out within
   * the chunk; the rest is dropped, and the metering side cuts the connections it has to).
   */
  charge?(bytes: number): number;
}

export interface ByteCounts {
  up: number;
  down: number;
}

export interface MeteredConnection {
  /** Unique within one server. */
  readonly id: number;
  readonly key: string;
  /** The requested destination, `host:port` or `[v6]:port`. */
  readonly target: string;
  /** Payload bytes relayed client → target, bytes that arrived with the request included; the handshake is not counted. */
  readonly bytesUp: number;
  /** Payload bytes relayed target → client. */
  readonly bytesDown: number;
  /** The bytes relayed since the previous call. */
  takeBytes(): ByteCounts;
  /** Cuts both sockets now; later calls do nothing. */
  destroy(reason: string): void;
}

type LogFn = (obj: object, msg?: string) => void;

/** The subset of pino the server uses. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  isLevelEnabled?(level: string): boolean;
}

export type Resolver = (hostname: string) => Promise<LookupAddress>;

export interface SocksServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  product: Product;
  gate: SocksGate;
  /** Applied to resolved addresses of direct routes and to IP literals on every route. */
  egress: EgressPolicy;
  /** Default: `dns.promises.lookup`. */
  resolve?: Resolver;
  /** From accept to the complete request. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** From the request to the connected target, routing and DNS included; expiry answers REP 0x06. Default 10 s. */
  connectTimeoutMs?: number;
  /** Relayed connections with no traffic either way for this long are closed. Default 5 min. */
  idleTimeoutMs?: number;
  /** Open client connections, in any phase; one more is closed as soon as it is accepted, without a SOCKS reply. Default 10,000. */
  maxConnections?: number;
  /** Accepted CONNECT requests (dialling or relaying) per grant key; one more gets REP 0x02. Default 256. */
  maxConnectionsPerKey?: number;
  /** Default: silent. */
  logger?: Logger;
}

export interface SocksServerStats {
  /** Open client connections, in any phase. */
  connections: number;
  relaying: number;
  /** Keys with at least one accepted CONNECT open. */
  keys: number;
  /** Connections accepted since creation. */
  accepted: number;
  /** Connections closed at accept because `maxConnections` was reached. */
  dropped: number;
}

export interface SocksServer {
  start(): Promise<{ port: number }>;
  /** Stops listening, destroys every connection and resolves once all their sockets are closed. */
  stop(): Promise<void>;
  stats(): SocksServerStats;
}
