import { isIP, type Socket } from 'node:net';
import { connected, DialError, negotiateUpstream, openSocket, replyFor } from './dial.js';
import type { EgressPolicy } from './egress.js';
import {
  AddressType,
  AUTH_FAILURE,
  AUTH_SUCCESS,
  Command,
  encodeReply,
  Method,
  METHOD_NO_ACCEPTABLE,
  METHOD_USERPASS,
  parseCredentials,
  parseGreeting,
  parseRequest,
  Reply,
  type ParseResult,
} from './protocol.js';
import { relay } from './relay.js';
import { TargetReader } from './target-reader.js';
import type {
  ByteCounts,
  Grant,
  Logger,
  MeteredConnection,
  Product,
  Resolver,
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
  /** Takes one of the key's connection slots; false when the key is at its cap. */
  claimSlot(key: string): boolean;
  releaseSlot(key: string): void;
  finished(conn: SocksConnection): void;
}

export type Phase = 'greeting' | 'auth' | 'request' | 'connecting' | 'relaying' | 'closing';

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
  private timer: NodeJS.Timeout | undefined;
  private reason: string | undefined;
  private error: Error | undefined;

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    client.on('data', this.onHandshakeData);
    client.on('end', this.onHandshakeEnd);
    client.on('error', this.onSocketError);
    client.on('close', this.onClientClose);
    this.arm(ctx.handshakeTimeoutMs);
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

  private readonly onHandshakeData = (chunk: Buffer): void => {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    // A client that sends several messages at once gets its replies in one write.
    this.client.cork();
    try {
      while (this.pending !== undefined && this.handshaking()) {
        const used = this.step(this.pending);
        if (used === 0) break;
        this.pending = used < this.pending.length ? this.pending.subarray(used) : undefined;
      }
    } catch (err) {
      this.onInternalError(err);
    } finally {
      this.client.uncork();
    }
  };

  private readonly onInternalError = (err: unknown): void => {
    this.ctx.logger.error({ err, conn: this.id }, 'SOCKS connection failed');
    this.destroy('internal error');
  };

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
      // Bytes the client sends before our reply wait in the socket (and `pending`) until the relay starts.
      this.client.pause();
      this.client.off('data', this.onHandshakeData);
      this.arm(this.ctx.connectTimeoutMs);
      this.charge = grant.charge;
      grant.open(this);
      this.connect(grant, host, port).catch(this.onInternalError);
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

  private async connect(grant: Grant, host: string, port: number): Promise<void> {
    let outbound: Socket;
    try {
      outbound = await this.dial(grant, host, port);
    } catch (err) {
      if (this.phase !== 'connecting') return;
      if (err instanceof DialError && err.upstreamFailed) this.reportUpstreamFailure();
      this.close(encodeReply(replyFor(err)), `dial failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.phase === 'connecting') this.startRelay(outbound);
  }

  private async dial(grant: Grant, host: string, port: number): Promise<Socket> {
    const route = await grant.route();
    this.ensureConnecting();
    const literal = isIP(host) !== 0;
    if (route.kind === 'upstream') {
      // The upstream resolves names (so that they resolve near the exit); literals are ours to check.
      if (literal && !this.ctx.egress.isAllowed(host)) throw new DialError(Reply.NotAllowed, `egress to ${host} denied`);
      this.upstream = route;
      const socket = this.attach(openSocket(route.host, route.port));
      try {
        await connected(socket);
      } catch (err) {
        throw new DialError(Reply.GeneralFailure, `upstream ${route.id} unreachable`, true, { cause: err });
      }
      await negotiateUpstream(socket, route, host, port, this.ctx.connectTimeoutMs);
      return socket;
    }
    const ip = literal ? host : await this.resolve(host);
    this.ensureConnecting();
    if (!this.ctx.egress.isAllowed(ip)) throw new DialError(Reply.NotAllowed, `egress to ${ip} denied`);
    this.reader = new TargetReader();
    const socket = this.attach(this.reader.connect(ip, port));
    await connected(socket);
    return socket;
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
    socket.on('error', this.onSocketError);
    socket.on('close', this.onOutboundClose);
    return socket;
  }

  private startRelay(outbound: Socket): void {
    this.phase = 'relaying';
    clearTimeout(this.timer);
    const client = this.client;
    client.off('end', this.onHandshakeEnd);
    client.write(encodeReply(Reply.Succeeded, outbound.localAddress, outbound.localPort));
    relay(client, outbound, this, this.reader);
    if (this.reader !== undefined) {
      for (const chunk of this.reader.start(client, this)) client.write(chunk);
      outbound.resume();
    }
    client.setTimeout(this.ctx.idleTimeoutMs);
    client.on('timeout', this.onIdle);
    outbound.on('timeout', this.onIdle);
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
    } else if (early === undefined || outbound.write(early)) {
      client.resume();
    }
  }

  /** Sends a last message and half-closes, reading on so that unread bytes do not turn our FIN into a reset. */
  private close(message: Buffer, reason: string): void {
    this.phase = 'closing';
    this.reason ??= reason;
    this.outbound?.destroy();
    this.client.off('data', this.onHandshakeData);
    this.client.resume();
    this.client.end(message);
    this.arm(this.ctx.handshakeTimeoutMs);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimeout, ms);
  }

  private readonly onTimeout = (): void => {
    if (this.phase !== 'connecting') {
      this.destroy(this.phase === 'closing' ? 'client did not close' : 'handshake timeout');
      return;
    }
    if (this.outbound?.connecting && this.upstream !== undefined) this.reportUpstreamFailure();
    this.close(encodeReply(Reply.TtlExpired), 'connect timeout');
  };

  private readonly onIdle = (): void => this.destroy('idle timeout');

  private readonly onHandshakeEnd = (): void => {
    if (this.phase === 'connecting') this.clientEnded = true;
    else if (this.phase !== 'closing') this.destroy('client closed during the handshake');
  };

  private readonly onSocketError = (err: Error): void => {
    this.error ??= err;
  };

  private readonly onClientClose = (hadError: boolean): void => {
    if (this.phase === 'relaying') this.passClose(this.outbound!, hadError);
    else this.outbound?.destroy();
    this.phase = 'closing';
    this.socketClosed();
  };

  private readonly onOutboundClose = (hadError: boolean): void => {
    if (this.phase === 'relaying') this.passClose(this.client, hadError);
    this.socketClosed();
  };

  /**
   * One side of a relay closed. A reset is passed on as a reset, so that the other peer cannot
   * take a cut transfer for a complete one. A clean close means both directions had ended: the
   * other socket may still be flushing, so it is left to finish, within the idle timeout.
   */
  private passClose(other: Socket, hadError: boolean): void {
    if (other.destroyed) return;
    if (hadError) other.resetAndDestroy();
    else if (!other.writableEnded) other.destroy();
    else other.setTimeout(this.ctx.idleTimeoutMs);
  }

  private socketClosed(): void {
    if (--this.openSockets === 0) this.finish();
  }

  private finish(): void {
    clearTimeout(this.timer);
    this.reader?.release();
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
