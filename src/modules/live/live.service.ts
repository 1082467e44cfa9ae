import { Repeater } from 'graphql-yoga';
import { prisma } from '../../db.js';
import { bus, type BusChannels } from '../../bus.js';
import type { Viewer } from '../../graphql/context.js';
import { ForbiddenError, NotFoundError } from '../../lib/errors.js';
import { watchCredential } from './credential-watch.js';

/**
 * Whose events a subscription may carry: the viewer's own by default; another account's only
 * for an administrator (FORBIDDEN otherwise), and NOT_FOUND when that account does not exist.
 */
export async function subscriptionTarget(viewer: Viewer, userId: number | null): Promise<number> {
  if (userId === null || userId === viewer.userId) return viewer.userId;
  if (viewer.role !== 'admin') throw new ForbiddenError("Only administrators may watch another account's events.");
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new NotFoundError('User');
  return user.id;
}

type Channel = keyof BusChannels;
type Payload<C extends Channel> = BusChannels[C][0];

/**
 * The events of a bus channel that `keep` accepts, until the consumer stops or the viewer's
 * credential stops being valid. A WebSocket connection brings its own credential signal; an
 * SSE request gets a watch of its own for as long as the subscription runs.
 */
export function liveEvents<C extends Channel>(
  viewer: Viewer,
  credentialEnded: AbortSignal | undefined,
  channel: C,
  keep: (event: Payload<C>) => boolean,
): AsyncIterable<Payload<C>> {
  return new Repeater<Payload<C>>(async (push, stop) => {
    const own = credentialEnded ? null : watchCredential(viewer);
    const signal = credentialEnded ?? own!.signal;
    if (signal.aborted) {
      own?.dispose();
      return stop();
    }
    const onAbort = () => stop();
    signal.addEventListener('abort', onAbort, { once: true });
    const source = (bus as { subscribe(channel: C): AsyncIterable<Payload<C>> }).subscribe(channel)[Symbol.asyncIterator]();
    // Ending the bus subscription settles a pending next() with done.
    void stop.then(() => source.return?.());
    // The first next() registers the bus listener: from here on no event is missed.
    let pending = source.next();
    active++;
    try {
      for (;;) {
        const next = await pending;
        if (next.done || signal.aborted) return;
        if (keep(next.value)) await push(next.value);
        pending = source.next();
      }
    } finally {
      active--;
      signal.removeEventListener('abort', onAbort);
      own?.dispose();
      stop();
      await source.return?.();
    }
  });
}

let active = 0;

/** Subscriptions listening to the bus in this process right now (tests and benchmarks wait on it). */
export function liveSubscriptionCount(): number {
  return active;
}
