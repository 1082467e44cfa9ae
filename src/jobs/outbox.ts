import { hostname } from 'node:os';
import { prisma, Prisma } from '../db.js';
import { log } from '../lib/logger.js';

type Tx = Prisma.TransactionClient;
export type JobHandler = (payload: Prisma.JsonValue) => Promise<void>;

const MAX_ATTEMPTS = 8;
const STALE_AFTER_MS = 5 * 60_000;
const handlers = new Map<string, JobHandler>();
let wake: (() => void) | null = null;

export function registerJobHandler(kind: string, handler: JobHandler): void {
  handlers.set(kind, handler);
}

/** Adds a job inside the caller's transaction: it runs only if that transaction commits. */
export async function enqueueJob(tx: Tx, kind: string, payload: Prisma.InputJsonValue): Promise<void> {
  await tx.outboxJob.create({ data: { kind, payload } });
}

/** Asks the runner to look for work now instead of at its next tick. */
export function notifyOutbox(): void {
  wake?.();
}

/**
 * Claims due jobs with SKIP LOCKED (several instances share the table), runs them, and
 * retries failures with exponential backoff up to MAX_ATTEMPTS.
 */
export function createOutboxRunner({ intervalMs = 1000 }: { intervalMs?: number } = {}) {
  const worker = `${hostname()}:${process.pid}`;
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  let pass: Promise<void> = Promise.resolve();
  let again = false;

  async function runOnce(): Promise<number> {
    const jobs = await prisma.$queryRaw<{ id: number; kind: string; payload: Prisma.JsonValue; attempts: number }[]>`
      UPDATE outbox SET status = 'running', locked_at = now(), locked_by = ${worker}, attempts = attempts + 1, updated_at = now()
      WHERE id IN (
        SELECT id FROM outbox
        WHERE (status = 'pending' AND run_at <= now())
           OR (status = 'running' AND locked_at < now() - make_interval(secs => ${STALE_AFTER_MS / 1000}))
        ORDER BY run_at LIMIT 20 FOR UPDATE SKIP LOCKED)
      RETURNING id, kind, payload, attempts`;
    for (const job of jobs) {
      const handler = handlers.get(job.kind);
      try {
        if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
        await handler(job.payload);
        await prisma.outboxJob.update({ where: { id: job.id }, data: { status: 'done', lockedAt: null, lastError: null } });
      } catch (err) {
        const message = (err as Error).message;
        const failed = job.attempts >= MAX_ATTEMPTS;
        log.warn({ job: job.id, kind: job.kind, attempts: job.attempts, err: message }, 'outbox job failed');
        await prisma.outboxJob.update({
          where: { id: job.id },
          data: {
            status: failed ? 'failed' : 'pending',
            lockedAt: null,
            lastError: message.slice(0, 2000),
            runAt: new Date(Date.now() + 1000 * 2 ** job.attempts),
          },
        });
      }
    }
    return jobs.length;
  }

  function schedule(): void {
    if (!running) return;
    if (again) return;
    again = true;
    pass = pass.then(async () => {
      again = false;
      try {
        while (running && (await runOnce()) > 0);
      } catch (err) {
        if (running) log.error({ err }, 'outbox pass failed');
      }
    });
  }

  return {
    start() {
      running = true;
      wake = schedule;
      timer = setInterval(schedule, intervalMs);
      timer.unref();
      schedule();
    },
    async stop() {
      running = false;
      if (wake === schedule) wake = null;
      if (timer) clearInterval(timer);
      await pass;
    },
  };
}
