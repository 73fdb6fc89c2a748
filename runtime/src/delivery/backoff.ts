import type { RetryPolicy } from '../../../time/retry.ts';
import type { ConsumerConfig } from '../config/model.ts';

/**
 * A binding's delivery retries as the one retry policy: Spring Retry's exponential back-off
 * in Spring Cloud Stream's terms (`backOffInitialInterval * backOffMultiplier^(attempt-1)`,
 * capped at `backOffMaxInterval`).
 */
export function deliveryRetryPolicy(
  consumer: Pick<ConsumerConfig, 'backOffInitialInterval' | 'backOffMultiplier' | 'backOffMaxInterval'>,
): RetryPolicy {
  return { initialMs: consumer.backOffInitialInterval, multiplier: consumer.backOffMultiplier, maxMs: consumer.backOffMaxInterval };
}
