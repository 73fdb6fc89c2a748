import { describe, expect, it } from 'vitest';
import { ExponentialBackoff, WorkQueue } from '../../../../operator/src/k8s/queue.ts';
import { FakeClock } from '../../../support/fake-clock.ts';

describe('ExponentialBackoff', () => {
  it.each([
    [5, 1000, 1, [5]],
    [5, 1000, 4, [5, 10, 20, 40]],
    [100, 1000, 6, [100, 200, 400, 800, 1000, 1000]],
  ])('base %i, cap %i: %i failures wait %j', (base, cap, failures, delays) => {
    const backoff = new ExponentialBackoff(base, cap);
    expect(Array.from({ length: failures }, () => backoff.when('k'))).toEqual(delays);
  });

  it('forget starts again from the base, per key', () => {
    const backoff = new ExponentialBackoff(10, 1000);
    backoff.when('a');
    backoff.when('a');
    expect(backoff.when('b')).toBe(10);
    backoff.forget('a');
    expect(backoff.when('a')).toBe(10);
  });
});

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('ns/a');
    expect(await queue.get()).toBe('ns/b');
  });

  it('never hands a key in flight to a second worker, and queues it again once done', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    queue.add('k');
    expect(await queue.get()).toBe('k');
    queue.add('k');
    expect(queue.length).toBe(0);
    queue.done('k');
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe('k');
  });

  it('wakes a waiting worker on add', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const waiting = queue.get();
    queue.add('k');
    expect(await waiting).toBe('k');
  });

  it('retries failed keys after their exponential delay', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, backoff: new ExponentialBackoff(100, 10_000) });
    expect(queue.addRateLimited('k')).toBe(100);
    await clock.advance(99);
    expect(queue.length).toBe(0);
    await clock.advance(1);
    expect(queue.length).toBe(1);
    expect(queue.addRateLimited('k')).toBe(200);
    queue.forget('k');
    expect(queue.addRateLimited('k')).toBe(100);
  });

  it('keeps the earlier of two delayed adds of a key', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter('k', 500);
    queue.addAfter('k', 100);
    queue.addAfter('k', 300);
    expect(clock.pendingDelays()).toEqual([100]);
  });

  it('answers undefined to workers once shut down', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const waiting = queue.get();
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    queue.add('k');
    expect(await queue.get()).toBeUndefined();
  });
});
