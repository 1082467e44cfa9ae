/** Reaching a target: TCP connections, upstream SOCKS5 negotiation, and the reply each failure earns. */
import net, { type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { Reply, type ReplyCode } from './protocol.js';
import type { UpstreamRoute } from './types.js';

export class DialError extends Error {
  override readonly name = 'DialError';

  constructor(
    readonly reply: ReplyCode,
    message: string,
    /** The upstream itself failed, as opposed to answering about the target. */
    readonly upstreamFailed = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const ERRNO_REPLIES = new Map<string, ReplyCode>([
  ['ECONNREFUSED', Reply.ConnectionRefused],
  ['EHOSTUNREACH', Reply.HostUnreachable],
  ['EHOSTDOWN', Reply.HostUnreachable],
  ['ENETUNREACH', Reply.NetworkUnreachable],
  ['ENETDOWN', Reply.NetworkUnreachable],
  ['ENOTFOUND', Reply.HostUnreachable],
  ['EAI_AGAIN', Reply.HostUnreachable],
  ['ETIMEDOUT', Reply.TtlExpired],
]);

export function replyFor(err: unknown): ReplyCode {
  if (err instanceof DialError) return err.reply;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return (code === undefined ? undefined : ERRNO_REPLIES.get(code)) ?? Reply.GeneralFailure;
}

export function openSocket(host: string, port: number): Socket {
  return net.connect({ host, port, noDelay: true, allowHalfOpen: true });
}

/** Settles when `socket` connects, fails, or is destroyed before connecting. */
export function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      socket.off('connect', onConnect);
      reject(socket.errored ?? new DialError(Reply.GeneralFailure, 'connection attempt aborted'));
    };
    socket.once('connect', onConnect).once('close', onClose);
  });
}

/** The REP names `socks` puts in the message of a rejection, which is all it tells of the code. */
const REJECTION_PREFIX = 'Socks5 proxy rejected connection - ';
const REJECTION_REPLIES = new Map<string, ReplyCode>([
  ['Failure', Reply.GeneralFailure],
  ['NotAllowed', Reply.NotAllowed],
  ['NetworkUnreachable', Reply.NetworkUnreachable],
  ['HostUnreachable', Reply.HostUnreachable],
  ['ConnectionRefused', Reply.ConnectionRefused],
  ['TTLExpired', Reply.TtlExpired],
  ['CommandNotSupported', Reply.CommandNotSupported],
  ['AddressNotSupported', Reply.AddressTypeNotSupported],
]);

/**
 * Asks the upstream proxy, already connected on `socket`, to CONNECT to host:port.
 * On success `socks` has paused the socket and resumes it itself on the next turn of the
 * event loop, after re-emitting any bytes that came with its reply: attach 'data' before that
 * and do not resume it earlier, or those bytes would be reordered.
 */
export async function negotiateUpstream(
  socket: Socket,
  route: UpstreamRoute,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  try {
    await SocksClient.createConnection({
      command: 'connect',
      destination: { host, port },
      proxy: { host: route.host, port: route.port, type: 5, userId: route.username, password: route.password },
      existing_socket: socket,
      timeout: timeoutMs,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    if (!message.startsWith(REJECTION_PREFIX)) {
      throw new DialError(Reply.GeneralFailure, `upstream ${route.id} failed: ${message}`, true, { cause: err });
    }
    const reply = REJECTION_REPLIES.get(message.slice(REJECTION_PREFIX.length)) ?? Reply.GeneralFailure;
    throw new DialError(reply, `upstream ${route.id} answered REP ${reply}`, false, { cause: err });
  }
}
