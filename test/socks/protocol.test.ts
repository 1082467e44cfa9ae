import { describe, expect, it } from 'vitest';
import {
  AddressType,
  Command,
  encodeCredentials,
  encodeGreeting,
  encodeReply,
  encodeSuccess,
  encodeRequest,
  formatIPv6,
  Method,
  parseCredentials,
  parseGreeting,
  parseReply,
  parseRequest,
  Reply,
  type ParseResult,
} from '../../src/socks/protocol.js';

/** Every strict prefix of `message` is incomplete, the whole of it parses, and trailing bytes are left alone. */
function expectIncremental<T>(parse: (buf: Buffer) => ParseResult<T>, message: Buffer): T {
  for (let cut = 0; cut < message.length; cut++) {
    expect(parse(message.subarray(0, cut)), `cut at ${cut}`).toEqual({ status: 'incomplete' });
  }
  const withTrailer = parse(Buffer.concat([message, Buffer.from([0xde, 0xad])]));
  const result = parse(message);
  expect(result.status).toBe('complete');
  expect(withTrailer).toEqual(result);
  if (result.status !== 'complete') throw new Error('unreachable');
  expect(result.length).toBe(message.length);
  return result.value;
}

describe('greeting', () => {
  it('parses methods at every split point', () => {
    const value = expectIncremental(parseGreeting, encodeGreeting([Method.NoAuth, Method.UserPass]));
    expect([...value.methods]).toEqual([0x00, 0x02]);
  });

  it('rejects another version as soon as the first byte arrives', () => {
    expect(parseGreeting(Buffer.from([0x04]))).toMatchObject({ status: 'invalid' });
  });

  it('rejects an empty method list', () => {
    expect(parseGreeting(Buffer.from([0x05, 0x00]))).toMatchObject({ status: 'invalid' });
  });

  it('accepts 255 methods', () => {
    const methods = Array.from({ length: 255 }, (_, i) => i);
    expect(expectIncremental(parseGreeting, encodeGreeting(methods)).methods).toHaveLength(255);
  });
});

describe('username/password', () => {
  it('parses at every split point', () => {
    expect(expectIncremental(parseCredentials, encodeCredentials('lpf_abc-country-fr', 's3cret'))).toEqual({
      username: 'lpf_abc-country-fr',
      password: 's3cret',
    });
  });

  it('accepts an empty password, as curl sends for KEY@host', () => {
    expect(expectIncremental(parseCredentials, Buffer.from([0x01, 0x03, 0x4b, 0x45, 0x59, 0x00]))).toEqual({
      username: 'KEY',
      password: '',
    });
  });

  it('accepts a 255-byte username and a 255-byte password', () => {
    const username = 'u'.repeat(255);
    const password = 'p'.repeat(255);
    expect(expectIncremental(parseCredentials, encodeCredentials(username, password))).toEqual({ username, password });
  });

  it('rejects an empty username and another version', () => {
    expect(parseCredentials(Buffer.from([0x01, 0x00, 0x00]))).toMatchObject({ status: 'invalid' });
    expect(parseCredentials(Buffer.from([0x05, 0x01, 0x61, 0x00]))).toMatchObject({ status: 'invalid' });
  });

  it('refuses to encode out-of-range lengths', () => {
    expect(() => encodeCredentials('', 'x')).toThrow(RangeError);
    expect(() => encodeCredentials('u'.repeat(256), '')).toThrow(RangeError);
    expect(() => encodeCredentials('u', 'p'.repeat(256))).toThrow(RangeError);
  });
});

describe('request', () => {
  it('parses IPv4 at every split point', () => {
    const message = Buffer.from([0x05, 0x01, 0x00, 0x01, 93, 184, 216, 34, 0x01, 0xbb]);
    expect(expectIncremental(parseRequest, message)).toEqual({
      command: Command.Connect,
      addressType: AddressType.IPv4,
      host: '93.184.216.34',
      port: 443,
    });
  });

  it('parses IPv6 at every split point', () => {
    const message = encodeRequest(Command.Connect, '2001:db8::1', 8080);
    expect(message[3]).toBe(AddressType.IPv6);
    expect(expectIncremental(parseRequest, message)).toEqual({
      command: Command.Connect,
      addressType: AddressType.IPv6,
      host: '2001:db8::1',
      port: 8080,
    });
  });

  it('parses a domain name at every split point', () => {
    const message = encodeRequest(Command.Connect, 'example.com', 80);
    expect([...message.subarray(0, 5)]).toEqual([0x05, 0x01, 0x00, AddressType.Domain, 11]);
    expect(expectIncremental(parseRequest, message)).toEqual({
      command: Command.Connect,
      addressType: AddressType.Domain,
      host: 'example.com',
      port: 80,
    });
  });

  it('parses a 255-byte domain name and port 65535', () => {
    const host = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
    expect(host).toHaveLength(255);
    expect(expectIncremental(parseRequest, encodeRequest(Command.Connect, host, 65535))).toMatchObject({ host, port: 65535 });
  });

  it('keeps any command byte for the server to judge', () => {
    expect(expectIncremental(parseRequest, encodeRequest(Command.Bind, '1.2.3.4', 1))).toMatchObject({ command: 0x02 });
    expect(expectIncremental(parseRequest, encodeRequest(0x7f, '1.2.3.4', 1))).toMatchObject({ command: 0x7f });
  });

  it('asks for REP 0x08 on an unknown address type', () => {
    expect(parseRequest(Buffer.from([0x05, 0x01, 0x00, 0x02]))).toEqual({
      status: 'invalid',
      reason: 'unsupported address type',
      reply: Reply.AddressTypeNotSupported,
    });
  });

  it('rejects another version and an empty domain name without a reply', () => {
    const version = parseRequest(Buffer.from([0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80]));
    const empty = parseRequest(Buffer.from([0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50]));
    for (const result of [version, empty]) {
      expect(result.status).toBe('invalid');
      expect(result).not.toHaveProperty('reply');
    }
  });
});

describe('reply', () => {
  it('encodes failures with 0.0.0.0:0 and shares the buffer', () => {
    expect([...encodeReply(Reply.ConnectionRefused)]).toEqual([0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    expect(encodeReply(Reply.ConnectionRefused)).toBe(encodeReply(Reply.ConnectionRefused));
  });

  it('encodes an IPv4 bound address', () => {
    expect([...encodeReply(Reply.Succeeded, '127.0.0.1', 0x1f90)]).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
  });

  it('encodes success replies like encodeReply, a fresh buffer each, for IPv4 and IPv6 bound addresses', () => {
    const first = encodeSuccess('127.0.0.1', 0x1f90);
    const second = encodeSuccess('127.0.0.1', 0x0050);
    expect([...first]).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
    expect([...second]).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 0x00, 0x50]);
    expect(encodeSuccess('2001:db8::7', 443)).toEqual(encodeReply(Reply.Succeeded, '2001:db8::7', 443));
  });

  it.each([
    ['::1', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ])('encodes the IPv6 bound address %s', (address, text) => {
    const bytes = encodeReply(Reply.Succeeded, address, 1080);
    expect(bytes).toHaveLength(22);
    expect(parseReply(bytes)).toEqual({
      status: 'complete',
      value: { reply: 0, addressType: AddressType.IPv6, host: text, port: 1080 },
      length: 22,
    });
  });

  it('parses at every split point', () => {
    expect(expectIncremental(parseReply, encodeReply(Reply.HostUnreachable, '10.0.0.1', 9))).toEqual({
      reply: Reply.HostUnreachable,
      addressType: AddressType.IPv4,
      host: '10.0.0.1',
      port: 9,
    });
  });
});

describe('formatIPv6', () => {
  const bytesOf = (groups: number[]) => {
    const buf = Buffer.alloc(16);
    groups.forEach((g, i) => buf.writeUInt16BE(g, 2 * i));
    return buf;
  };

  it.each([
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 'fe80::'],
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[1, 2, 3, 4, 5, 6, 7, 8], '1:2:3:4:5:6:7:8'],
    [[1, 0, 3, 4, 5, 6, 7, 8], '1:0:3:4:5:6:7:8'],
    [[1, 0, 0, 2, 0, 0, 0, 3], '1:0:0:2::3'],
    [[1, 0, 0, 2, 0, 0, 3, 4], '1::2:0:0:3:4'],
  ])('formats %j as %s', (groups, text) => {
    expect(formatIPv6(bytesOf(groups))).toBe(text);
  });
});
