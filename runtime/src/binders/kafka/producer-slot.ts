/**
 * One idempotent kafkajs producer at a time, replaced after every send whose outcome is unknown.
 *
 * An idempotent producer numbers each partition's record batches, and Kafka answers a batch
 * whose numbers it already wrote as a success without writing it again: that is how a retry
 * after a lost answer is not stored twice. kafkajs takes the numbers of a produce request back
 * when the request fails in the network (a timeout, a closed connection), but Kafka may have
 * written that batch before its answer was lost; the next, different records to that
 * partition then carry the same numbers, are "duplicates", and are acknowledged without being
 * stored. So a producer whose send failed, or was given up on while the client still tries, is
 * not used again: the next send goes through a new producer, which Kafka gives a new producer
 * id whose numbers start from zero. The old one is disconnected once its send has settled.
 */
import type { Producer as KafkaJsProducer } from 'kafkajs';

export class ProducerSlot {
  private current: Promise<KafkaJsProducer> | undefined;
  private closed = false;

  /** `create` returns a connected producer. */
  constructor(private readonly create: () => Promise<KafkaJsProducer>) {}

  /** The producer to send with, connected; a failed connection is tried again on the next call. */
  acquire(): Promise<KafkaJsProducer> {
    if (this.closed) return Promise.reject(new Error('the producer is closed'));
    if (this.current === undefined) {
      const connecting = this.create();
      this.current = connecting;
      connecting.catch(() => {
        if (this.current === connecting) this.current = undefined;
      });
    }
    return this.current;
  }

  /** After a send through `producer` failed or was given up on: later sends use a new producer. */
  retire(producer: Promise<KafkaJsProducer>, send: Promise<unknown>): void {
    if (this.current === producer) this.current = undefined;
    void send
      .catch(() => {})
      .then(() => producer)
      .then((p) => p.disconnect())
      .catch(() => {});
  }

  /** Sends `send` through the current producer, retiring it when the send fails. */
  async run<T>(send: (producer: KafkaJsProducer) => Promise<T>): Promise<T> {
    const producer = this.acquire();
    const sent = producer.then(send);
    try {
      return await sent;
    } catch (error) {
      this.retire(producer, sent);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) await current.then((p) => p.disconnect()).catch(() => {});
  }
}
