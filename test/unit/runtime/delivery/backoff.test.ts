import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../../../time/retry.ts';
import { deliveryRetryPolicy } from '../../../../runtime/src/delivery/backoff.ts';
import { classifyStatus } from '../../../../runtime/src/delivery/push.ts';

describe('retryDelay of a consumer\'s back-off settings', () => {
  const consumer = { backOffInitialInterval: 1000, backOffMultiplier: 2, backOffMaxInterval: 10000 };
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 10000],
    [9, 10000],
  ])('after attempt %i waits %i ms', (attempt, expected) => {
    expect(retryDelay(deliveryRetryPolicy(consumer), attempt)).toBe(expected);
  });

  it.each([
    [{ backOffInitialInterval: 100, backOffMultiplier: 1, backOffMaxInterval: 1000 }, 3, 100],
    [{ backOffInitialInterval: 100, backOffMultiplier: 1.5, backOffMaxInterval: 1000 }, 3, 225],
    [{ backOffInitialInterval: 0, backOffMultiplier: 2, backOffMaxInterval: 0 }, 4, 0],
  ])('%o after attempt %i waits %i ms', (settings, attempt, expected) => {
    expect(retryDelay(deliveryRetryPolicy(settings), attempt)).toBe(expected);
  });
});

describe('classifyStatus', () => {
  it.each([
    [200, 'ack'],
    [204, 'ack'],
    [400, 'dead-letter'],
    [404, 'dead-letter'],
    [422, 'dead-letter'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [301, 'dead-letter'],
  ])('HTTP %i means %s', (status, expected) => {
    const result = classifyStatus(status);
    expect(result.ok ? 'ack' : result.retryable ? 'retry' : 'dead-letter').toBe(expected);
  });
});
