/**
 * A work queue of object keys with client-go's semantics: a key waiting in the queue is
 * queued once however often it is added; a key being processed is never handed to a second
 * worker, and if it was added meanwhile it is queued again once the worker is done. Failed
 * keys come back after a per-key exponential delay (`addRateLimited`), reset by `forget`.
 */
import { systemClock, type Clock } from '../../../time/clock.ts';
import { retryDelay, type RetryPolicy } from '../../../time/retry.ts';

/**
 * Per-key exponential back-off: the shared retry policy with multiplier 2, from `base`,
 * capped at `max` (client-go's ItemExponentialFailureRateLimiter).
 */
export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();
  private readonly policy: RetryPolicy;

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 60_000,
  ) {
    this.policy = { initialMs: baseMs, multiplier: 2, maxMs };
  }

  /** The delay before the next retry of `key`, counting this failure. */
  when(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return retryDelay(this.policy, failures);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export interface WorkQueueOptions {
  backoff?: ExponentialBackoff;
  clock?: Clock;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; handle: unknown }>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  readonly backoff: ExponentialBackoff;
  private readonly clock: Clock;

  constructor(options: WorkQueueOptions = {}) {
    this.backoff = options.backoff ?? new ExponentialBackoff();
    this.clock = options.clock ?? systemClock;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) {
      this.dirty.delete(key);
      this.processing.add(key);
      getter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds `key` after `ms`; an earlier pending add of the same key wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, handle });
  }

  /** Adds `key` after its back-off delay; returns that delay. */
  addRateLimited(key: string): number {
    const delay = this.backoff.when(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts the back-off from the beginning. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** The next key to process; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The worker finished `key`; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting to be processed (not those in flight or delayed). */
  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }
}
