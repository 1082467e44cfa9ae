import { describe, expect, it } from 'vitest';
import { DialError, replyFor } from '../../src/socks/dial.js';
import { Reply } from '../../src/socks/protocol.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('replyFor', () => {
  it.each([
    ['ECONNREFUSED', Reply.ConnectionRefused],
    ['EHOSTUNREACH', Reply.HostUnreachable],
    ['EHOSTDOWN', Reply.HostUnreachable],
    ['ENETUNREACH', Reply.NetworkUnreachable],
    ['ENETDOWN', Reply.NetworkUnreachable],
    ['ENOTFOUND', Reply.HostUnreachable],
    ['EAI_AGAIN', Reply.HostUnreachable],
    ['ETIMEDOUT', Reply.TtlExpired],
    ['ECONNRESET', Reply.GeneralFailure],
    ['EPERM', Reply.GeneralFailure],
  ])('maps %s to REP %i', (code, reply) => {
    expect(replyFor(errno(code))).toBe(reply);
  });

  it('keeps the reply a DialError carries', () => {
    expect(replyFor(new DialError(Reply.NotAllowed, 'egress denied'))).toBe(Reply.NotAllowed);
  });

  it('answers general failure for anything else', () => {
    for (const err of [new Error('boom'), 'a string', undefined, null, { code: 42 }]) {
      expect(replyFor(err)).toBe(Reply.GeneralFailure);
    }
  });
});
