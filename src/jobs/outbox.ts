import { hostname } from 'node:os';
import { prisma, Prisma } from '../db.js';
import { log } from '../lib/logger.js';

type Tx = Prisma.TransactionClient;
export type JobHandler = (payload: Prisma.JsonValue) => Promise<void>;

const MAX_ATTEMPTS = 8;
const STALE_AFTER_MS = 5 * 60_000;
/**
 * The runner sleeps until its next pending job is due, and jobs enqueued in this process wake
 * it (notifyOutbox). This slow poll finds what it cannot hear about: jobs enqueued by another
 * instance or by the CLI, and 'running' jobs of a crashed instance whose lock went stale (STALE_AFTER_MS).
 */
const SAFETY_POLL_MS = 15_000;
/** After a failed pass (database unreachable), try again soon rather than at the safety poll. */
const RETRY_AFTER_ERROR_MS = 1000;
const handlers = new Map<string, JobHandler>();
let wake: (() => void) | null = null;

export function registerJobHandler(kind: string, handler: JobHandler): void {
  handlers.set(kind, handler);
}

/** Adds a job inside the caller's transaction: it runs only if that transaction commits. */
export async function enqueueJob(tx: Tx, kind: string, payload: Prisma.InputJsonValue): Promise<void> {
  await tx.outboxJob.create({ data: { kind, payload } });
}

/** Asks the runner to look for work now: call it after the transaction that enqueued a job commits. */
export function notifyOutbox(): void {
  wake?.();
}

/**
 * Claims due jobs with SKIP LOCKED (several instances share the table), runs them, and
 * retries failures with exponential backoff up to MAX_ATTEMPTS. Between passes it waits for
 * notifyOutbox, the next job's run_at, or the safety poll, whichever comes first.
 */
export function createOutboxRunner({ safetyPollMs = SAFETY_POLL_MS }: { safetyPollMs?: number } = {}) {
  const worker = `${hostname()}:${process.pid}`;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
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

  /** Milliseconds until the next pending job is due (null: none), on the database's clock like the claim. */
  async function untilNextJob(): Promise<number | null> {
    const [row] = await prisma.$queryRaw<{ ms: number | null }[]>`
      SELECT (EXTRACT(EPOCH FROM MIN(run_at) - now()) * 1000)::float8 AS ms FROM outbox WHERE status = 'pending'`;
    return row?.ms ?? null;
  }

  function schedule(): void {
    if (!running) return;
    if (again) return;
    again = true;
    pass = pass.then(async () => {
      again = false;
      // This pass arms the one timer when it ends.
      clearTimeout(timer);
      let delay = safetyPollMs;
      try {
        while (running && (await runOnce()) > 0);
        const next = running ? await untilNextJob() : null;
        if (next !== null) delay = Math.min(Math.max(Math.ceil(next), 0), safetyPollMs);
      } catch (err) {
        if (!running) return;
        log.error({ err }, 'outbox pass failed');
        delay = RETRY_AFTER_ERROR_MS;
      }
      if (!running) return;
      timer = setTimeout(schedule, delay);
      timer.unref();
    });
  }

  return {
    start() {
      running = true;
      wake = schedule;
      schedule();
    },
    async stop() {
      running = false;
      if (wake === schedule) wake = null;
      clearTimeout(timer);
      await pass;
    },
  };
}
