/**
 * Counts the deliveries one consumer handed out and that are not settled yet, and when it
 * last handed one out. A binding that moves to another binder keeps its old consumer until
 * it has gone quiet and everything it delivered is settled, so nothing it held is lost or
 * delivered twice by the move.
 */
import { DeliveryFields, type Delivery, type DeliveryHandler } from '../binders/binder.ts';
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
      handler(new TrackedDelivery(delivery, this));
    };
  }

  /** Called once per delivery, when the binder's settle of it finished, failed or not. */
  release(): void {
    this.unsettled--;
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

/** A delivery counted unsettled until the binder's settle of it finished, failed or not. */
class TrackedDelivery extends DeliveryFields implements Delivery {
  private released = false;

  constructor(private readonly delivery: Delivery, private readonly tracker: DeliveryTracker) {
    super(delivery);
  }

  ack(): Promise<void> {
    return this.settled(() => this.delivery.ack());
  }

  requeue(): Promise<void> {
    return this.settled(() => this.delivery.requeue());
  }

  deadLetter(reason: string): Promise<void> {
    return this.settled(() => this.delivery.deadLetter(reason));
  }

  private settled(action: () => Promise<void>): Promise<void> {
    let settling: Promise<void>;
    try {
      settling = action();
    } catch (error) {
      this.release();
      return Promise.reject(error as Error);
    }
    return settling.then(() => this.release(), (error: unknown) => {
      this.release();
      throw error;
    });
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.tracker.release();
  }
}
