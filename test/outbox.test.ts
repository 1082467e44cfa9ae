import { afterEach, describe, expect, it, vi } from 'vitest';
import { prisma } from '../src/db.js';
import { createOutboxRunner, enqueueJob, notifyOutbox, registerJobHandler } from '../src/jobs/outbox.js';
import { databaseForThisFile } from './helpers/database.js';

databaseForThisFile('outbox');
let runner: ReturnType<typeof createOutboxRunner> | undefined;

afterEach(async () => {
  await runner?.stop();
  runner = undefined;
  vi.restoreAllMocks();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Enqueues like a service does: inside a transaction, so the job exists once it commits. */
async function enqueue(kind: string): Promise<number> {
  await prisma.$transaction((tx) => enqueueJob(tx, kind, {}));
  const job = await prisma.outboxJob.findFirstOrThrow({ where: { kind }, orderBy: { id: 'desc' } });
  return job.id;
}

/** A handler for `kind` that records when it ran and fails its first `failures` calls. */
function recordingHandler(kind: string, failures = 0) {
  const calls: number[] = [];
  const waiters: (() => void)[] = [];
  registerJobHandler(kind, async () => {
    calls.push(Date.now());
    waiters.splice(0).forEach((w) => w());
    if (calls.length <= failures) throw new Error(`failure ${calls.length}`);
  });
  return {
    calls,
    /** Resolves when the handler has run `n` times; rejects after `timeoutMs`. */
    async ranTimes(n: number, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (calls.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${kind} ran ${calls.length} times, expected ${n} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
    },
  };
}

describe('outbox runner', () => {
  it('runs a job at once when notifyOutbox follows its commit', async () => {
    const handler = recordingHandler('test-notified');
    runner = createOutboxRunner();
    runner.start();
    await sleep(200); // the start-up pass is over: only the wake-up can find the job
    const enqueuedAt = Date.now();
    await enqueue('test-notified');
    notifyOutbox();
    await handler.ranTimes(1, 2000);
    expect(handler.calls[0]! - enqueuedAt).toBeLessThan(1000);
  });

  it('retries a failed job when its backoff is due, without waiting for the safety poll', async () => {
    const handler = recordingHandler('test-flaky', 1);
    runner = createOutboxRunner();
    runner.start();
    const id = await enqueue('test-flaky');
    notifyOutbox();
    await handler.ranTimes(1, 2000);
    // The first failure (attempts = 1) is retried 2 s later; the safety poll is 15 s away.
    await handler.ranTimes(2, 6000);
    const [first, second] = handler.calls as [number, number];
    expect(second - first).toBeGreaterThanOrEqual(1900);
    await vi.waitFor(async () => {
      expect(await prisma.outboxJob.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'done', attempts: 2, lastError: null });
    });
  });

  it('issues no query while idle between passes', async () => {
    runner = createOutboxRunner();
    runner.start();
    await sleep(500); // the start-up pass is over
    const queries = vi.spyOn(prisma, '$queryRaw');
    await sleep(2500);
    expect(queries).not.toHaveBeenCalled();
  });

  it('runs a job enqueued without notifyOutbox (another instance, the CLI) at the next safety poll', async () => {
    const handler = recordingHandler('test-unnotified');
    runner = createOutboxRunner({ safetyPollMs: 300 });
    runner.start();
    await sleep(100);
    await enqueue('test-unnotified');
    await handler.ranTimes(1, 3000);
  });
});
