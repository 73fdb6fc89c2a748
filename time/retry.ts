/**
 * The one retry policy: exponential back-off as Spring Retry and client-go compute it,
 * `initialMs * multiplier^(attempt-1)` capped at `maxMs`. Delivery retries, binder
 * (re)connects, topic provisioning and the operator's failed reconciles all use it, each with
 * its own numbers, so "how long until the next try" has one answer in the code base.
 */
import { sleep, type Clock } from './clock.ts';

export interface RetryPolicy {
  /** Wait after the first failure (ms). */
  initialMs: number;
  /** Factor applied to the wait after each further failure (>= 1). */
  multiplier: number;
  /** Longest wait (ms). */
  maxMs: number;
  /** Attempts in all, the first included; unlimited when absent. */
  maxAttempts?: number;
}

/** The wait after attempt `attempt` (1-based) failed. */
export function retryDelay(policy: Pick<RetryPolicy, 'initialMs' | 'multiplier' | 'maxMs'>, attempt: number): number {
  const delay = policy.initialMs * policy.multiplier ** Math.min(Math.max(0, attempt - 1), 1023);
  return Math.min(Math.round(delay), policy.maxMs);
}

export interface RetryOptions {
  clock: Clock;
  /**
   * Stops retrying: `retry` rejects at once, with the last error while it waits between
   * attempts, or with the signal's reason during an attempt (whose outcome is then ignored:
   * an attempt may hang on a peer that never answers).
   */
  signal?: AbortSignal;
  /** Whether a failure is worth another attempt (default: every failure is). */
  retryable?: (error: unknown) => boolean;
  /** Told before each wait, for a log line. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `attempt` until it succeeds, waiting `retryDelay` between failures. Rejects with the
 * last error once the policy's attempts are used up, the error is not retryable, or `signal`
 * aborts.
 */
export async function retry<T>(policy: RetryPolicy, work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await untilAborted(work(attempt), options.signal);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const exhausted = policy.maxAttempts !== undefined && attempt >= policy.maxAttempts;
      if (exhausted || options.retryable?.(error) === false) throw error;
      const delay = retryDelay(policy, attempt);
      options.onRetry?.(error, attempt, delay);
      if (!(await sleep(options.clock, delay, options.signal))) throw error;
    }
  }
}

/** `work`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
