import type { ConsumerConfig } from '../config/model.ts';

/**
 * The wait after delivery attempt `attempt` (1-based) failed, as Spring Retry's exponential
 * back-off computes it: initial * multiplier^(attempt-1), capped at the maximum.
 */
export function backOffDelay(
  consumer: Pick<ConsumerConfig, 'backOffInitialInterval' | 'backOffMultiplier' | 'backOffMaxInterval'>,
  attempt: number,
): number {
  const delay = consumer.backOffInitialInterval * consumer.backOffMultiplier ** Math.max(0, attempt - 1);
  return Math.min(Math.round(delay), consumer.backOffMaxInterval);
}
