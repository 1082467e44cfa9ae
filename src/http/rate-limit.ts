import { Redis } from 'ioredis';
import { log } from '../lib/logger.js';

export interface RateDecision {
  allowed: boolean;
  /** Milliseconds until the window of this bucket ends. */
  resetMs: number;
}

/**
 * Fixed-window counters: a bucket allows `limit` requests in the window that its first
 * request opens. In memory by default; in Redis (shared by every instance) when configured.
 */
export interface RateLimiter {
  hit(bucket: string, limit: number, windowMs: number): Promise<RateDecision>;
  close(): Promise<void>;
}

export function memoryRateLimiter(): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  let hits = 0;
  return {
    async hit(bucket, limit, windowMs) {
      const now = Date.now();
      // Expired windows are dropped now and then, so idle buckets do not pile up.
      if (++hits % 1000 === 0) for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
      let w = windows.get(bucket);
      if (!w || w.resetAt <= now) {
        w = { count: 0, resetAt: now + windowMs };
        windows.set(bucket, w);
      }
      w.count++;
      return { allowed: w.count <= limit, resetMs: w.resetAt - now };
    },
    async close() {
      windows.clear();
    },
  };
}

// INCR and the expiry of a new window in one step, so concurrent instances agree.
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { count, ttl }`;

export function redisRateLimiter(url: string, prefix: string): RateLimiter {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1000, lazyConnect: false });
  redis.on('error', (err: unknown) => log.warn({ err }, 'rate-limit redis error'));
  return {
    async hit(bucket, limit, windowMs) {
      try {
        const [count, ttl] = (await redis.eval(HIT_SCRIPT, 1, prefix + bucket, String(windowMs))) as [number, number];
        return { allowed: count <= limit, resetMs: ttl };
      } catch (err) {
        // Failing open: an unreachable Redis must not take the API down with it.
        log.warn({ err }, 'rate limit not applied: redis unavailable');
        return { allowed: true, resetMs: windowMs };
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
