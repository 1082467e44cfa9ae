import { prisma } from '../../db.js';
import { onBus, type BusChannels } from '../../bus.js';
import { log } from '../../lib/logger.js';
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

/** Events a subscriber has not read yet; past this, it is too slow and its subscription ends. */
const MAX_QUEUED = 1024;

/**
 * One account's subscriber to one channel: an async iterator over the events it keeps, fed
 * synchronously by the channel's dispatcher.
 */
class Subscriber<C extends Channel> implements AsyncIterableIterator<Payload<C>> {
  private readonly queue: Payload<C>[] = [];
  private waiting: ((result: IteratorResult<Payload<C>>) => void) | null = null;
  private ended = false;

  constructor(
    readonly keep: (event: Payload<C>) => boolean,
    private readonly onEnd: () => void,
  ) {}

  push(event: Payload<C>): void {
    if (this.ended || !this.keep(event)) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ done: false, value: event });
    } else if (this.queue.length < MAX_QUEUED) {
      this.queue.push(event);
    } else {
      log.warn({ queued: this.queue.length }, 'live subscriber too slow: subscription ended');
      this.end();
    }
  }

  next(): Promise<IteratorResult<Payload<C>>> {
    if (this.queue.length) return Promise.resolve({ done: false, value: this.queue.shift()! });
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<Payload<C>>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    this.onEnd();
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Per channel, one bus listener for the whole process, dispatching each event to the
 * subscribers of its account only: an event costs nothing for the subscribers of other accounts.
 */
const channels = new Map<Channel, Map<number, Set<Subscriber<Channel>>>>();

function subscribersOf<C extends Channel>(channel: C): Map<number, Set<Subscriber<C>>> {
  let byUser = channels.get(channel) as Map<number, Set<Subscriber<C>>> | undefined;
  if (!byUser) {
    const index = new Map<number, Set<Subscriber<C>>>();
    // For the life of the process: the dispatcher costs nothing while its index is empty.
    onBus(channel, (event) => {
      const set = index.get((event as { userId: number }).userId);
      if (set) for (const subscriber of set) subscriber.push(event);
    });
    channels.set(channel, index as unknown as Map<number, Set<Subscriber<Channel>>>);
    byUser = index;
  }
  return byUser;
}

/**
 * The events of a bus channel for account `userId` that `keep` accepts, until the consumer
 * stops or the viewer's credential stops being valid. A WebSocket connection brings its own
 * credential signal; an SSE request gets a watch of its own for as long as the subscription runs.
 */
export function liveEvents<C extends Channel>(
  viewer: Viewer,
  credentialEnded: AbortSignal | undefined,
  channel: C,
  userId: number,
  keep: (event: Payload<C>) => boolean = () => true,
): AsyncIterableIterator<Payload<C>> {
  const own = credentialEnded ? null : watchCredential(viewer);
  const signal = credentialEnded ?? own!.signal;
  const byUser = subscribersOf(channel);
  const subscriber: Subscriber<C> = new Subscriber(keep, () => {
    active--;
    signal.removeEventListener('abort', onAbort);
    own?.dispose();
    const set = byUser.get(userId);
    if (set?.delete(subscriber) && set.size === 0) byUser.delete(userId);
  });
  const onAbort = () => subscriber.end();
  active++;
  let set = byUser.get(userId);
  if (!set) byUser.set(userId, (set = new Set()));
  set.add(subscriber);
  if (signal.aborted) subscriber.end();
  else signal.addEventListener('abort', onAbort, { once: true });
  return subscriber;
}

let active = 0;

/** Subscriptions listening to the bus in this process right now (tests and benchmarks wait on it). */
export function liveSubscriptionCount(): number {
  return active;
}
