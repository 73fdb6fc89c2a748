/**
 * Time as a dependency. Everything that waits, times out or backs off (delivery retries, ack
 * and push timeouts, binder reconnects, topic provisioning, the operator's work queue, leader
 * election, Event timestamps) reads it from a Clock it is given, so that a test drives time
 * with the one fake clock (test/support/fake-clock.ts) instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The process's clock. Its timers do not keep the process alive: what must finish before
 * exit is awaited by whoever started it.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Waits `ms`; resolves false at once if `signal` aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      resolve(false);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits for `work`, at most `ms`: true when it finished in time. A rejection of `work` passes through. */
export async function within(clock: Clock, work: Promise<unknown>, ms: number): Promise<boolean> {
  const stop = new AbortController();
  try {
    return await Promise.race([work.then(() => true), sleep(clock, ms, stop.signal).then(() => false)]);
  } finally {
    stop.abort();
  }
}
