/**
 * Counts the deliveries one consumer handed out and that are not settled yet, and when it
 * last handed one out. A binding that moves to another binder keeps its old consumer until
 * it has gone quiet and everything it delivered is settled, so nothing it held is lost or
 * delivered twice by the move.
 */
import type { Delivery, DeliveryHandler } from '../binders/binder.ts';
import { sleep, type Clock } from '../../../time/clock.ts';

export class DeliveryTracker {
  private unsettled = 0;
  private lastDeliveryAt: number;

  constructor(private readonly clock: Clock) {
    this.lastDeliveryAt = clock.now();
  }

  get unsettledCount(): number {
    return this.unsettled;
  }

  wrap(handler: DeliveryHandler): DeliveryHandler {
    return (delivery) => {
      this.unsettled++;
      this.lastDeliveryAt = this.clock.now();
      let done = false;
      const release = (): void => {
        if (!done) {
          done = true;
          this.unsettled--;
        }
      };
      // Counted settled once the binder's settle finished, failed or not; no async layer of its own per message.
      const settled = (action: () => Promise<void>) => (): Promise<void> => {
        try {
          return action().finally(release);
        } catch (error) {
          release();
          return Promise.reject(error as Error);
        }
      };
      const tracked: Delivery = {
        id: delivery.id,
        payload: delivery.payload,
        contentType: delivery.contentType,
        headers: delivery.headers,
        ...(delivery.partition !== undefined && { partition: delivery.partition }),
        attempt: delivery.attempt,
        ack: settled(() => delivery.ack()),
        requeue: settled(() => delivery.requeue()),
        deadLetter: (reason) => settled(() => delivery.deadLetter(reason))(),
      };
      handler(tracked);
    };
  }

  /** Resolves once nothing was delivered for `quietMs`, or after `maxMs`. */
  async quiet(quietMs: number, maxMs: number, pollMs = 50): Promise<void> {
    const deadline = this.clock.now() + maxMs;
    while (this.clock.now() - this.lastDeliveryAt < quietMs && this.clock.now() < deadline) {
      await sleep(this.clock, pollMs);
    }
  }

  /** Resolves once every delivery is settled, or after `maxMs`. */
  async settled(maxMs: number, pollMs = 20): Promise<void> {
    const deadline = this.clock.now() + maxMs;
    while (this.unsettled > 0 && this.clock.now() < deadline) await sleep(this.clock, pollMs);
  }
}
