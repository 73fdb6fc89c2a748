/**
 * How a delivery ends, the same for push and SSE: every outcome is counted under the
 * `bindery_deliveries_total{outcome}` label it belongs to.
 */
import type { BaseLogger } from 'pino';
import type { ConsumerConfig } from '../config/model.ts';
import type { Delivery } from '../binders/binder.ts';

export type DeliveryOutcome = 'ack' | 'retry' | 'dead_letter' | 'dropped';

/** Receives each outcome with the time the attempt took (seconds). */
export type OutcomeObserver = (outcome: DeliveryOutcome, seconds: number) => void;

export async function acknowledge(delivery: Delivery, observe: OutcomeObserver, seconds: number): Promise<void> {
  await delivery.ack();
  observe('ack', seconds);
}

/** No more attempts: to the dead-letter destination, or dropped when the binding has none. */
export async function giveUp(
  delivery: Delivery,
  consumer: ConsumerConfig,
  reason: string,
  observe: OutcomeObserver,
  seconds: number,
): Promise<void> {
  await delivery.deadLetter(reason);
  observe(consumer.deadLetter ? 'dead_letter' : 'dropped', seconds);
}

/** A failed attempt that may be retried: is there an attempt left? */
export function attemptsLeft(consumer: ConsumerConfig, attempt: number): boolean {
  return attempt < consumer.maxAttempts;
}

/**
 * A message that cannot be handed to the app at all (it cannot be written as an event):
 * redelivering it would fail the same way and hold its binding, so it goes to the dead
 * letters (or is dropped) at once, counted and logged.
 */
export async function undeliverable(
  delivery: Delivery,
  consumer: ConsumerConfig,
  error: unknown,
  observe: OutcomeObserver,
  logger: BaseLogger,
  binding: string,
): Promise<void> {
  const reason = `the sidecar could not deliver the message: ${(error as Error)?.message ?? String(error)}`;
  logger.error({ binding, messageId: delivery.id, err: reason }, consumer.deadLetter ? 'undeliverable message dead-lettered' : 'undeliverable message dropped');
  await giveUp(delivery, consumer, reason, observe, 0);
}
