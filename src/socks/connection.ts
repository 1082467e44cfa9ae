import { isIP, type Socket } from 'node:net';
import { connected, DialError, negotiateUpstream, openSocket, replyFor } from './dial.js';
import type { EgressPolicy } from './egress.js';
import {
  AddressType,
  AUTH_FAILURE,
  AUTH_SUCCESS,
  Command,
  encodeReply,
  encodeSuccess,
  Method,
  METHOD_NO_ACCEPTABLE,
  METHOD_USERPASS,
  parseCredentials,
  parseGreeting,
  parseRequest,
  Reply,
  type ParseResult,
} from './protocol.js';
import { relay, unlinkRelay } from './relay.js';
import { TargetReader } from './target-reader.js';
import type {
  ByteCounts,
  Grant,
  Logger,
  MeteredConnection,
  Product,
  Resolver,
  Route,
  SocksGate,
  UpstreamRoute,
} from './types.js';

/** What all connections of one server share. */
export interface ConnectionContext {
  readonly product: Product;
  readonly gate: SocksGate;
  readonly egress: EgressPolicy;
  readonly resolve: Resolver;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly logger: Logger;
  /** Whether the logger writes debug lines (checked once: a closed connection's line is built only then). */
  readonly debug: boolean;
  /** Takes one of the key's connection slots; false when the key is at its cap. */
  claimSlot(key: string): boolean;
  releaseSlot(key: string): void;
  finished(conn: SocksConnection): void;
}

export type Phase = 'greeting' | 'auth' | 'request' | 'connecting' | 'relaying' | 'closing';

const CONN = Symbol('socks.connection');

/** The sockets of a connection know it, so that their listeners can be shared functions, not closures per connection. */
interface OwnedSocket extends Socket {
  [CONN]: SocksConnection;
}

/** Bytes a client may send ahead of the CONNECT reply before we stop reading it. */
const EARLY_BYTES_MAX = 64 * 1024;

const ABORTED = new DialError(Reply.GeneralFailure, 'connection closed while dialling');

/** One client connection, from the greeting to the close of both sockets. */
export class SocksConnection implements MeteredConnection {
  key = '';
  target = '';
  bytesUp = 0;
  bytesDown = 0;
  charge: ((bytes: number) => number) | undefined;
  phase: Phase = 'greeting';

  private takenUp = 0;
  private takenDown = 0;
  /** Handshake bytes not parsed yet; once the request is parsed, the bytes that came with it. */
  private pending: Buffer | undefined;
  private grant: Grant | undefined;
  private upstream: UpstreamRoute | undefined;
  private outbound: Socket | undefined;
  /** Reads of a direct target (upstream proxies are read through 'data', as `socks` expects). */
  private reader: TargetReader | undefined;
  private openSockets = 1;
  private holdsSlot = false;
  /** The client half-closed right after its request, before the target was reached. */
  private clientEnded = false;
  /** When the current phase must be over (Date.now() ms); checked by the server's sweep. */
  private deadline: number;
  /** Relayed bytes and queued writes at the last sweep: unchanged for the idle timeout means idle. */
  private activity = -1;
  private reason: string | undefined;
  private error: Error | undefined;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    (client as OwnedSocket)[CONN] = this;
    client.on('data', onHandshakeData);
    client.on('end', onHandshakeEnd);
    client.on('error', onSocketError);
    client.on('close', onClientClose);
    this.deadline = Date.now() + ctx.handshakeTimeoutMs;
  }

  /** Called by the server's sweep: ends a phase that ran past its deadline, or an idle relay. */
  sweep(now: number): void {
    if (this.phase === 'relaying') {
      const activity = this.bytesUp + this.bytesDown + this.client.writableLength + (this.outbound?.writableLength ?? 0);
      if (activity !== this.activity) {
        this.activity = activity;
        this.deadline = now + this.ctx.idleTimeoutMs;
      } else if (now >= this.deadline) {
        this.destroy('idle timeout');
      }
    } else if (now >= this.deadline) {
      this.onTimeout();
    }
  }

  takeBytes(): ByteCounts {
    const counts = { up: this.bytesUp - this.takenUp, down: this.bytesDown - this.takenDown };
    this.takenUp = this.bytesUp;
    this.takenDown = this.bytesDown;
    return counts;
  }

  destroy(reason: string): void {
    this.phase = 'closing';
    this.reason ??= reason;
    this.client.destroy();
    this.outbound?.destroy();
  }

  handshakeData(chunk: Buffer): void {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.phase === 'connecting') {
      // Bytes sent before our reply wait here until the relay starts; beyond a bound, in the socket.
      if (this.pending.length >= EARLY_BYTES_MAX) this.client.pause();
      return;
    }
    // A client that sends several messages at once gets its replies in one write.
    this.client.cork();
    try {
      while (this.pending !== undefined && this.handshaking()) {
        const used = this.step(this.pending);
        if (used === 0) break;
        this.pending = used < this.pending.length ? this.pending.subarray(used) : undefined;
      }
    } catch (err) {
      this.internalError(err);
    } finally {
      this.client.uncork();
    }
  }

  private internalError(err: unknown): void {
    this.ctx.logger.error({ err, conn: this.id }, 'SOCKS connection failed');
    this.destroy('internal error');
  }

  private handshaking(): boolean {
    return this.phase === 'greeting' || this.phase === 'auth' || this.phase === 'request';
  }

  /** Handles one message at the start of `buf`; returns the bytes it used, 0 when it is incomplete. */
  private step(buf: Buffer): number {
    switch (this.phase) {
      case 'greeting':
        return this.onGreeting(buf);
      case 'auth':
        return this.onCredentials(buf);
      default:
        return this.onRequest(buf);
    }
  }

  private onGreeting(buf: Buffer): number {
    const msg = parseGreeting(buf);
    if (msg.status !== 'complete') return this.unparsed(msg, buf);
    if (msg.value.methods.includes(Method.UserPass)) {
      this.client.write(METHOD_USERPASS);
      this.phase = 'auth';
    } else {
      this.close(METHOD_NO_ACCEPTABLE, 'no acceptable authentication method');
    }
    return msg.length;
  }

  private onCredentials(buf: Buffer): number {
    const msg = parseCredentials(buf);
    if (msg.status !== 'complete') return this.unparsed(msg, buf);
    const decision = this.ctx.gate.authorize(msg.value.username, this.ctx.product);
    if (!decision.ok && decision.reason === 'auth') {
      this.close(AUTH_FAILURE, 'authentication failed');
    } else {
      // A `not_allowed` key passes authentication without a grant: its request gets REP 0x02.
      if (decision.ok) {
        this.grant = decision.grant;
        this.key = decision.grant.key;
      }
      this.client.write(AUTH_SUCCESS);
      this.phase = 'request';
    }
    return msg.length;
  }

  private onRequest(buf: Buffer): number {
    const msg = parseRequest(buf);
    if (msg.status !== 'complete') return this.unparsed(msg, buf);
    const { command, addressType, host, port } = msg.value;
    this.target = addressType === AddressType.IPv6 ? `[${host}]:${port}` : `${host}:${port}`;
    const grant = this.grant;
    if (command !== Command.Connect) {
      this.close(encodeReply(Reply.CommandNotSupported), 'command not supported');
    } else if (grant === undefined) {
      this.close(encodeReply(Reply.NotAllowed), 'not allowed by the gate');
    } else if (!this.ctx.claimSlot(grant.key)) {
      this.close(encodeReply(Reply.NotAllowed), 'per-key connection cap reached');
    } else {
      this.holdsSlot = true;
      this.phase = 'connecting';
      this.deadline = Date.now() + this.ctx.connectTimeoutMs;
      this.charge = grant.charge;
      grant.open(this);
      this.connect(grant, host, port);
    }
    return msg.length;
  }

  /** An incomplete message waits for more bytes; an invalid one ends the connection and the rest of `buf` with it. */
  private unparsed(result: ParseResult<unknown>, buf: Buffer): number {
    if (result.status === 'incomplete') return 0;
    if (result.status === 'invalid') {
      if (result.reply === undefined) this.destroy(`malformed handshake: ${result.reason}`);
      else this.close(encodeReply(result.reply), result.reason);
    }
    return buf.length;
  }

  private connect(grant: Grant, host: string, port: number): void {
    let route: Route | Promise<Route>;
    try {
      route = grant.route();
    } catch (err) {
      return this.dialFailed(err);
    }
    if (route instanceof Promise) {
      route.then((r) => this.dialRoute(r, host, port), (err) => this.dialFailed(err)).catch((err) => this.internalError(err));
    } else {
      this.dialRoute(route, host, port);
    }
  }

  private dialRoute(route: Route, host: string, port: number): void {
    if (this.phase !== 'connecting') return;
    if (route.kind === 'upstream') {
      this.dialUpstream(route, host, port)
        .then(() => this.phase === 'connecting' && this.startRelay(this.outbound!), (err) => this.dialFailed(err))
        .catch((err) => this.internalError(err));
    } else if (isIP(host) !== 0) {
      this.dialDirect(host, port);
    } else {
      this.resolve(host)
        .then((ip) => this.phase === 'connecting' && this.dialDirect(ip, port), (err) => this.dialFailed(err))
        .catch((err) => this.internalError(err));
    }
  }

  private dialDirect(ip: string, port: number): void {
    if (!this.ctx.egress.isAllowed(ip)) return this.dialFailed(new DialError(Reply.NotAllowed, `egress to ${ip} denied`));
    this.reader = new TargetReader();
    this.attach(this.reader.connect(ip, port)).once('connect', onTargetConnect);
  }

  targetConnected(): void {
    if (this.phase !== 'connecting') return;
    try {
      this.startRelay(this.outbound!);
    } catch (err) {
      this.internalError(err);
    }
  }

  private dialFailed(err: unknown): void {
    if (this.phase !== 'connecting') return;
    if (err instanceof DialError && err.upstreamFailed) this.reportUpstreamFailure();
    this.close(encodeReply(replyFor(err)), `dial failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Reaches the target through an upstream SOCKS5 proxy, which resolves names itself. */
  private async dialUpstream(route: UpstreamRoute, host: string, port: number): Promise<void> {
    // The upstream resolves names (so that they resolve near the exit); literals are ours to check.
    if (isIP(host) !== 0 && !this.ctx.egress.isAllowed(host)) throw new DialError(Reply.NotAllowed, `egress to ${host} denied`);
    this.upstream = route;
    const socket = this.attach(openSocket(route.host, route.port));
    try {
      await connected(socket);
    } catch (err) {
      throw new DialError(Reply.GeneralFailure, `upstream ${route.id} unreachable`, true, { cause: err });
    }
    this.ensureConnecting();
    // Our own deadline (the sweep) answers REP 0x06 first; this only bounds the library.
    await negotiateUpstream(socket, route, host, port, this.ctx.connectTimeoutMs + 1000);
  }

  private async resolve(host: string): Promise<string> {
    try {
      return (await this.ctx.resolve(host)).address;
    } catch (err) {
      throw new DialError(Reply.HostUnreachable, `cannot resolve ${host}`, false, { cause: err });
    }
  }

  private ensureConnecting(): void {
    if (this.phase !== 'connecting') throw ABORTED;
  }

  private attach(socket: Socket): Socket {
    this.outbound = socket;
    this.openSockets++;
    (socket as OwnedSocket)[CONN] = this;
    socket.on('error', onSocketError);
    socket.on('close', onOutboundClose);
    return socket;
  }

  private startRelay(outbound: Socket): void {
    this.phase = 'relaying';
    this.deadline = Date.now() + this.ctx.idleTimeoutMs;
    const client = this.client;
    client.off('data', onHandshakeData);
    client.off('end', onHandshakeEnd);
    client.write(encodeSuccess(outbound.localAddress!, outbound.localPort!));
    relay(client, outbound, this, this.reader);
    if (this.reader !== undefined) {
      for (const chunk of this.reader.start(client, this)) client.write(chunk);
      outbound.resume();
    }
    let early = this.pending;
    this.pending = undefined;
    if (early !== undefined) {
      const n = this.charge === undefined ? early.length : this.charge(early.length);
      this.bytesUp += n;
      early = n === 0 ? undefined : early.subarray(0, n);
    }
    if (this.clientEnded) {
      if (early !== undefined) outbound.write(early);
      outbound.end();
    } else if (early !== undefined && !outbound.write(early)) {
      client.pause();
    } else if (client.isPaused()) {
      client.resume();
    }
  }

  /** Sends a last message and half-closes, reading on so that unread bytes do not turn our FIN into a reset. */
  private close(message: Buffer, reason: string): void {
    this.phase = 'closing';
    this.reason ??= reason;
    this.outbound?.destroy();
    this.client.off('data', onHandshakeData);
    this.client.resume();
    this.client.end(message);
    this.deadline = Date.now() + this.ctx.handshakeTimeoutMs;
  }

  private onTimeout(): void {
    if (this.phase !== 'connecting') {
      this.destroy(this.phase === 'closing' ? 'client did not close' : 'handshake timeout');
      return;
    }
    if (this.outbound?.connecting && this.upstream !== undefined) this.reportUpstreamFailure();
    this.close(encodeReply(Reply.TtlExpired), 'connect timeout');
  }

  handshakeEnded(): void {
    if (this.phase === 'connecting') this.clientEnded = true;
    else if (this.phase !== 'closing') this.destroy('client closed during the handshake');
  }

  socketError(err: Error): void {
    this.error ??= err;
  }

  clientClosed(hadError: boolean): void {
    if (this.phase === 'relaying') this.passClose(this.outbound!, hadError);
    else this.outbound?.destroy();
    this.phase = 'closing';
    this.socketClosed();
  }

  outboundClosed(hadError: boolean): void {
    if (this.phase === 'relaying') this.passClose(this.client, hadError);
    else if (this.phase === 'connecting' && this.upstream === undefined) this.dialFailed(this.outbound!.errored ?? ABORTED);
    this.socketClosed();
  }

  /**
   * One side of a relay closed. A reset is passed on as a reset, so that the other peer cannot
   * take a cut transfer for a complete one. A clean close means both directions had ended: the
   * other socket may still be flushing, so it is left to finish, within the idle timeout.
   */
  private passClose(other: Socket, hadError: boolean): void {
    if (other.destroyed) return;
    if (hadError) other.resetAndDestroy();
    else if (!other.writableEnded) other.destroy();
    else this.deadline = Date.now() + this.ctx.idleTimeoutMs;
  }

  private socketClosed(): void {
    if (--this.openSockets === 0) this.finish();
  }

  private finish(): void {
    this.reader?.release();
    this.unlink();
    const { ctx } = this;
    if (this.holdsSlot) {
      ctx.releaseSlot(this.key);
      try {
        this.grant!.close(this);
      } catch (err) {
        ctx.logger.error({ err, conn: this.id }, 'grant.close threw');
      }
    }
    ctx.finished(this);
    if (!ctx.debug) return;
    ctx.logger.debug(
      {
        conn: this.id,
        key: this.key,
        target: this.target,
        up: this.bytesUp,
        down: this.bytesDown,
        reason: this.reason ?? 'closed',
        err: this.error,
      },
      'SOCKS connection closed',
    );
  }

  /**
   * Both sockets are closed: drop the links between them and this connection. Whichever of
   * them a scavenge promoted while the connection was open would otherwise keep the others
   * alive from the old generation until the next full collection.
   */
  private unlink(): void {
    for (const socket of [this.client, this.outbound]) {
      if (socket === undefined) continue;
      (socket as Partial<OwnedSocket>)[CONN] = undefined;
      unlinkRelay(socket);
    }
    this.outbound = undefined;
    this.reader = undefined;
    this.pending = undefined;
  }

  private reportUpstreamFailure(): void {
    const id = this.upstream!.id;
    this.ctx.logger.warn({ conn: this.id, upstream: id }, 'upstream failed');
    try {
      this.grant!.reportUpstreamFailure?.(id);
    } catch (err) {
      this.ctx.logger.error({ err, conn: this.id }, 'grant.reportUpstreamFailure threw');
    }
  }
}

function onHandshakeData(this: OwnedSocket, chunk: Buffer): void {
  this[CONN].handshakeData(chunk);
}

function onHandshakeEnd(this: OwnedSocket): void {
  this[CONN].handshakeEnded();
}

function onSocketError(this: OwnedSocket, err: Error): void {
  this[CONN].socketError(err);
}

function onClientClose(this: OwnedSocket, hadError: boolean): void {
  this[CONN].clientClosed(hadError);
}

function onOutboundClose(this: OwnedSocket, hadError: boolean): void {
  this[CONN].outboundClosed(hadError);
}

function onTargetConnect(this: OwnedSocket): void {
  this[CONN].targetConnected();
}
