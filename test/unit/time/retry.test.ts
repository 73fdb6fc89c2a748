import { describe, expect, it } from 'vitest';
import { sleep, within } from '../../../time/clock.ts';
import { retry, retryDelay, type RetryPolicy } from '../../../time/retry.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const policy: RetryPolicy = { initialMs: 100, multiplier: 2, maxMs: 500 };

describe('retryDelay', () => {
  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 500],
    [60, 500],
    [5_000, 500],
  ])('after attempt %i waits %i ms', (attempt, expected) => {
    expect(retryDelay(policy, attempt)).toBe(expected);
  });
});

describe('retry', () => {
  it('waits the policy\'s delays between failures and resolves with the first success', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const result = retry(policy, async (attempt) => {
      calls += 1;
      if (attempt < 4) throw new Error(`attempt ${attempt} failed`);
      return 'done';
    }, { clock });
    await clock.advance(10_000);
    await expect(result).resolves.toBe('done');
    expect(calls).toBe(4);
    expect(clock.scheduled).toEqual([100, 200, 400]);
  });

  it('rejects with the last error once maxAttempts are used up', async () => {
    const clock = new FakeClock();
    const result = retry({ ...policy, maxAttempts: 3 }, async (attempt) => {
      throw new Error(`attempt ${attempt} failed`);
    }, { clock });
    result.catch(() => undefined);
    await clock.advance(10_000);
    await expect(result).rejects.toThrow('attempt 3 failed');
    expect(clock.scheduled).toEqual([100, 200]);
  });

  it('does not retry an error that is not retryable', async () => {
    const clock = new FakeClock();
    const result = retry(policy, async () => {
      throw new Error('refused for good');
    }, { clock, retryable: (error) => !(error as Error).message.includes('for good') });
    await expect(result).rejects.toThrow('refused for good');
    expect(clock.scheduled).toEqual([]);
  });

  it('stops waiting when its signal aborts, rejecting with the last error', async () => {
    const clock = new FakeClock();
    const stop = new AbortController();
    const retries: number[] = [];
    const result = retry(policy, async (attempt) => {
      throw new Error(`attempt ${attempt} failed`);
    }, { clock, signal: stop.signal, onRetry: (_error, attempt, delay) => retries.push(attempt, delay) });
    result.catch(() => undefined);
    await clock.advance(100);
    stop.abort();
    await expect(result).rejects.toThrow('attempt 2 failed');
    expect(retries).toEqual([1, 100, 2, 200]);
  });

  it('an abort during an attempt that never settles rejects at once, with the signal\'s reason', async () => {
    const clock = new FakeClock();
    const stop = new AbortController();
    const retries: number[] = [];
    const result = retry({ initialMs: 100, multiplier: 2, maxMs: 1000 }, () => new Promise<never>(() => undefined), {
      clock,
      signal: stop.signal,
      onRetry: (_error, attempt) => retries.push(attempt),
    });
    stop.abort(new Error('shutting down'));
    await expect(result).rejects.toThrow('shutting down');
    expect(retries).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('sleep and within', () => {
  it('sleep resolves true after its time, false at once when aborted', async () => {
    const clock = new FakeClock();
    const stop = new AbortController();
    const long = sleep(clock, 1_000, stop.signal);
    const short = sleep(clock, 10);
    await clock.advance(10);
    await expect(short).resolves.toBe(true);
    stop.abort();
    await expect(long).resolves.toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('within says whether the work finished in time, and passes its rejection through', async () => {
    const clock = new FakeClock();
    const never = within(clock, new Promise(() => undefined), 50);
    await clock.advance(50);
    await expect(never).resolves.toBe(false);
    await expect(within(clock, Promise.resolve('x'), 50)).resolves.toBe(true);
    await expect(within(clock, Promise.reject(new Error('broken')), 50)).rejects.toThrow('broken');
    expect(clock.pendingTimers).toBe(0);
  });
});
