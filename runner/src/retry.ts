/**
 * Which failures are worth another try, and how long to wait before it.
 *
 * Retryable: network errors (refused, reset, timeout, DNS, proxy), 429 and 5xx, the marks of an
 * orchestrator that is restarting, overloaded or behind a flapping proxy. Final: 401 and 403
 * (the runner token is wrong or the runner was deregistered: retrying cannot help), and every
 * other 4xx (the request itself is wrong). 409 and 416 are answers of the log protocol, handled
 * by the caller before they ever reach here.
 *
 * Backoff: exponential from `baseMs`, doubling up to `maxMs`, with "equal jitter" (a random
 * point in the upper half of the step) so a fleet that lost the orchestrator together does not
 * come back in step. A 429 or 503 with `Retry-After` waits what the server asked instead.
 */
import { AbortedError, HttpError, NetworkError } from './http';

export interface RetryPolicy {
  /** First delay, doubled each attempt (ms). */
  baseMs: number;
  /** Ceiling of the delay (ms). */
  maxMs: number;
  /** Total tries including the first; Infinity for "until it works". */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 500, maxMs: 30_000, maxAttempts: Infinity };

/** A Retry-After longer than this is capped: a typo on the server must not park the fleet for a day. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  if (err instanceof HttpError) return err.status === 429 || err.status >= 500;
  return false;
}

/** 401/403: the orchestrator no longer accepts this runner. The runner must stop. */
export function isAuthFailure(err: unknown): err is HttpError {
  return err instanceof HttpError && (err.status === 401 || err.status === 403);
}

/** Delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The delay for this failure: the server's Retry-After when it gave one, else the backoff. */
export function retryDelay(err: unknown, attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  if (err instanceof HttpError && err.retryAfterMs !== undefined) {
    const asked = Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS);
    // A little jitter on top, never below what the server asked.
    return Math.round(asked + random() * Math.min(1000, asked * 0.1));
  }
  return backoffDelay(attempt, policy, random);
}

export interface RetryOptions {
  policy: RetryPolicy;
  signal?: AbortSignal;
  random?: () => number;
  /** Called before each wait, to log the outage. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `fn` until it resolves, a non-retryable error is thrown (rethrown as is), the attempts
 * are used up (the last error is rethrown) or `signal` fires (AbortedError).
 */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new AbortedError();
    try {
      return await fn();
    } catch (err) {
      if (!isRetryable(err) || attempt + 1 >= options.policy.maxAttempts) throw err;
      const delay = retryDelay(err, attempt, options.policy, options.random);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
