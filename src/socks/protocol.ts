/**
 * Wire format of SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929).
 *
 * Parsers take whatever bytes have arrived so far, because TCP may split a message anywhere:
 * they answer `incomplete`, `invalid` or `complete` with the number of bytes the message used,
 * never throw, and never copy the input.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const SOCKS_VERSION = 0x05;
export const AUTH_VERSION = 0x01;

export const Method = { NoAuth: 0x00, UserPass: 0x02, NoAcceptable: 0xff } as const;
export const Command = { Connect: 0x01, Bind: 0x02, UdpAssociate: 0x03 } as const;
export const AddressType = { IPv4: 0x01, Domain: 0x03, IPv6: 0x04 } as const;
export const AuthStatus = { Success: 0x00, Failure: 0x01 } as const;

export const Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

export type ReplyCode = (typeof Reply)[keyof typeof Reply];
export type AddressTypeCode = (typeof AddressType)[keyof typeof AddressType];

export type ParseResult<T> =
  | { readonly status: 'incomplete' }
  /** `reply`, when set, is what the server should answer before closing. */
  | { readonly status: 'invalid'; readonly reason: string; readonly reply?: ReplyCode }
  | { readonly status: 'complete'; readonly value: T; readonly length: number };

export interface Greeting {
  /** A view into the parsed buffer. */
  readonly methods: Uint8Array;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** The layout shared by requests and replies: VER, CMD or REP, RSV, ATYP, address, port. */
export interface AddressedMessage {
  readonly addressType: AddressTypeCode;
  readonly host: string;
  readonly port: number;
}

export interface SocksRequest extends AddressedMessage {
  /** Any byte: commands other than those in `Command` are for the server to refuse. */
  readonly command: number;
}

export interface SocksReply extends AddressedMessage {
  readonly reply: number;
}

const INCOMPLETE = { status: 'incomplete' } as const;

function invalid(reason: string, reply?: ReplyCode): ParseResult<never> {
  return reply === undefined ? { status: 'invalid', reason } : { status: 'invalid', reason, reply };
}

function complete<T>(value: T, length: number): ParseResult<T> {
  return { status: 'complete', value, length };
}

/** VER, NMETHODS, METHODS. */
export function parseGreeting(buf: Buffer): ParseResult<Greeting> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return invalid('not SOCKS version 5');
  if (buf.length < 2) return INCOMPLETE;
  const count = buf[1]!;
  if (count === 0) return invalid('no authentication method offered');
  const length = 2 + count;
  if (buf.length < length) return INCOMPLETE;
  return complete({ methods: buf.subarray(2, length) }, length);
}

/** VER, ULEN, UNAME, PLEN, PASSWD. An empty password is valid (curl sends one for `KEY@host`). */
export function parseCredentials(buf: Buffer): ParseResult<Credentials> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== AUTH_VERSION) return invalid('not username/password version 1');
  if (buf.length < 2) return INCOMPLETE;
  const ulen = buf[1]!;
  if (ulen === 0) return invalid('empty username');
  const plenAt = 2 + ulen;
  if (buf.length <= plenAt) return INCOMPLETE;
  const length = plenAt + 1 + buf[plenAt]!;
  if (buf.length < length) return INCOMPLETE;
  return complete(
    { username: buf.toString('utf8', 2, plenAt), password: buf.toString('utf8', plenAt + 1, length) },
    length,
  );
}

/** VER, CMD, RSV (ignored), ATYP, DST.ADDR, DST.PORT. An unknown ATYP asks for REP 0x08. */
export function parseRequest(buf: Buffer): ParseResult<SocksRequest> {
  const parsed = parseAddressed(buf, Reply.AddressTypeNotSupported);
  if (parsed.status !== 'complete') return parsed;
  const { addressType, host, port } = parsed.value;
  return complete({ command: buf[1]!, addressType, host, port }, parsed.length);
}

/** VER, REP, RSV, ATYP, BND.ADDR, BND.PORT: what a client reads back. */
export function parseReply(buf: Buffer): ParseResult<SocksReply> {
  const parsed = parseAddressed(buf);
  if (parsed.status !== 'complete') return parsed;
  const { addressType, host, port } = parsed.value;
  return complete({ reply: buf[1]!, addressType, host, port }, parsed.length);
}

function parseAddressed(buf: Buffer, unknownTypeReply?: ReplyCode): ParseResult<AddressedMessage> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return invalid('not SOCKS version 5');
  if (buf.length < 4) return INCOMPLETE;
  const addressType = buf[3]!;
  let length: number;
  switch (addressType) {
    case AddressType.IPv4:
      length = 4 + 4 + 2;
      break;
    case AddressType.IPv6:
      length = 4 + 16 + 2;
      break;
    case AddressType.Domain:
      if (buf.length < 5) return INCOMPLETE;
      if (buf[4] === 0) return invalid('empty domain name');
      length = 5 + buf[4]! + 2;
      break;
    default:
      return invalid('unsupported address type', unknownTypeReply);
  }
  if (buf.length < length) return INCOMPLETE;
  const host =
    addressType === AddressType.IPv4
      ? `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`
      : addressType === AddressType.IPv6
        ? formatIPv6(buf, 4)
        : buf.toString('utf8', 5, length - 2);
  return complete({ addressType, host, port: buf.readUInt16BE(length - 2) }, length);
}

/** Method selection replies are constant: share them. */
export const METHOD_USERPASS = Buffer.from([SOCKS_VERSION, Method.UserPass]);
export const METHOD_NO_ACCEPTABLE = Buffer.from([SOCKS_VERSION, Method.NoAcceptable]);
export const AUTH_SUCCESS = Buffer.from([AUTH_VERSION, AuthStatus.Success]);
export const AUTH_FAILURE = Buffer.from([AUTH_VERSION, AuthStatus.Failure]);

const failureReplies = new Map<number, Buffer>();

/**
 * A reply with BND.ADDR/BND.PORT; without an address it is 0.0.0.0:0, which is
 * what a failure carries, and those are built once and shared.
 */
export function encodeReply(reply: ReplyCode, host?: string, port = 0): Buffer {
  if (host === undefined) {
    let cached = failureReplies.get(reply);
    if (cached === undefined) failureReplies.set(reply, (cached = encodeAddressed(reply, '0.0.0.0', 0)));
    return cached;
  }
  return encodeAddressed(reply, host, port);
}

/** Success replies by bound address: the address is encoded once, each reply only adds its port. */
const boundAddresses = new Map<string, Buffer>();
const MAX_BOUND_ADDRESSES = 256;

/** The reply to an accepted CONNECT: REP 0x00 with the address and port the server bound. */
export function encodeSuccess(host: string, port: number): Buffer {
  let template = boundAddresses.get(host);
  if (template === undefined) {
    template = encodeAddressed(Reply.Succeeded, host, 0);
    if (boundAddresses.size >= MAX_BOUND_ADDRESSES) boundAddresses.clear();
    boundAddresses.set(host, template);
  }
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out.writeUInt16BE(port, out.length - 2);
  return out;
}

/** Client side: VER, NMETHODS, METHODS. */
export function encodeGreeting(methods: readonly number[]): Buffer {
  if (methods.length < 1 || methods.length > 255) throw new RangeError('1 to 255 methods');
  return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
}

/** Client side: RFC 1929 request. */
export function encodeCredentials(username: string, password: string): Buffer {
  const user = Buffer.from(username, 'utf8');
  const pass = Buffer.from(password, 'utf8');
  if (user.length < 1 || user.length > 255) throw new RangeError('username must be 1 to 255 bytes');
  if (pass.length > 255) throw new RangeError('password must be at most 255 bytes');
  return Buffer.concat([Buffer.from([AUTH_VERSION, user.length]), user, Buffer.from([pass.length]), pass]);
}

/** Client side: an IP literal is sent as IPv4 or IPv6, anything else as a domain name. */
export function encodeRequest(command: number, host: string, port: number): Buffer {
  return encodeAddressed(command, host, port);
}

function encodeAddressed(code: number, host: string, port: number): Buffer {
  let out: Buffer;
  if (isIPv4(host)) {
    out = Buffer.allocUnsafe(4 + 4 + 2);
    out[3] = AddressType.IPv4;
    const octets = host.split('.');
    for (let i = 0; i < 4; i++) out[4 + i] = Number(octets[i]);
  } else if (isIPv6(host)) {
    out = Buffer.allocUnsafe(4 + 16 + 2);
    out[3] = AddressType.IPv6;
    const groups = parseIPv6(host);
    for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, 4 + 2 * i);
  } else {
    const name = Buffer.from(host, 'utf8');
    if (name.length < 1 || name.length > 255) throw new RangeError('domain name must be 1 to 255 bytes');
    out = Buffer.allocUnsafe(5 + name.length + 2);
    out[3] = AddressType.Domain;
    out[4] = name.length;
    name.copy(out, 5);
  }
  out[0] = SOCKS_VERSION;
  out[1] = code;
  out[2] = 0;
  out.writeUInt16BE(port, out.length - 2);
  return out;
}

/** The eight groups of an address `isIPv6` accepted; a zone (`%eth0`) is dropped. */
function parseIPv6(text: string): number[] {
  const zone = text.indexOf('%');
  const address = zone === -1 ? text : text.slice(0, zone);
  const gap = address.indexOf('::');
  const head = groupsOf(gap === -1 ? address : address.slice(0, gap));
  if (gap === -1) return head;
  const tail = groupsOf(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function groupsOf(part: string): number[] {
  if (part === '') return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
      groups.push((a << 8) | b, (c << 8) | d);
    } else {
      groups.push(parseInt(piece, 16));
    }
  }
  return groups;
}

/** RFC 5952 text: lowercase, no leading zeros, the first longest run of two or more zero groups as `::`. */
export function formatIPv6(buf: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((buf[offset + 2 * i]! << 8) | buf[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  return bestStart === -1 ? hex(0, 8) : `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
