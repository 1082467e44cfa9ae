import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { answerCalls, callsOver } from '../src/lib/thread-calls.js';

const functions = {
  add: async (a: number, b: number) => a + b,
  when: (d: Date) => ({ next: new Date(d.getTime() + 1000) }),
  fail: () => {
    throw Object.assign(new Error('no such row'), { name: 'DriverAdapterError', cause: { kind: 'RecordNotFound' } });
  },
};

describe('calls between threads', () => {
  it('returns results by structured clone and rejects with the error’s name, message and plain cause', async () => {
    const { port1, port2 } = new MessageChannel();
    const stop = answerCalls(port1, functions);
    const remote = callsOver<typeof functions>(port2);
    expect(await remote.add(2, 3)).toBe(5);
    expect(await remote.when(new Date(0))).toEqual({ next: new Date(1000) });
    const err = await remote.fail().catch((e: unknown) => e as Error & { cause: unknown });
    expect(err).toMatchObject({ name: 'DriverAdapterError', message: 'no such row', cause: { kind: 'RecordNotFound' } });
    await expect((remote as unknown as Record<string, () => Promise<unknown>>).missing!()).rejects.toThrow('no function missing to call');
    // Awaiting the object itself is not a call.
    expect((remote as { then?: unknown }).then).toBeUndefined();
    stop();
    port2.close();
  });

});
