/**
 * A work queue of object keys with client-go's semantics: a key waiting in the queue is
 * queued once however often it is added; a key being processed is never handed to a second
 * worker, and if it was added meanwhile it is queued again once the worker is done. Failed
 * keys come back after a per-key exponential delay (`addRateLimited`), reset by `forget`.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Per-key exponential back-off: `base * 2^(failures-1)`, capped at `max` (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 60_000,
  ) {}

  /** The delay before the next retry of `key`, counting this failure. */
  when(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(failures - 1, 52));
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
  timers?: Timers;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; handle: unknown }>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  readonly backoff: ExponentialBackoff;
  private readonly timers: Timers;

  constructor(options: WorkQueueOptions = {}) {
    this.backoff = options.backoff ?? new ExponentialBackoff();
    this.timers = options.timers ?? realTimers;
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
  addAfter(key: string, ms: number, now = Date.now()): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = now + ms;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.timers.clearTimeout(pending.handle);
    const handle = this.timers.setTimeout(() => {
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
    for (const { handle } of this.waiting.values()) this.timers.clearTimeout(handle);
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }
}
