/**
 * One output binding's producer on a Kafka topic: sends issued in the same tick travel in one
 * produce request, each caller hearing only of its own message, and every record's partition
 * is noted so that the receipt can name it.
 *
 * A produce request carries at most the topic's `max.message.bytes` (Kafka refuses a record
 * batch over it, all of its records with it), and a record that alone would not fit is
 * refused before it is queued. When the binder finds Kafka gone, what waits here and what is
 * in flight are answered at once: the client hears 503 and retries, rather than waiting out
 * the client library's retries against a broker that is not there.
 */
import type { RecordMetadata } from 'kafkajs';
import type { Clock } from '../../../../time/clock.ts';
import {
  BinderUnavailableError,
  ConfirmTimeoutError,
  MessageTooLargeError,
  type BinderState,
  type OutboundMessage,
  type Producer,
  type SendReceipt,
} from '../binder.ts';
import { murmur2 } from '../../partition/index.ts';
import { outboundRecord, type OutboundRecord } from './messages.ts';
import type { ProducerSlot } from './producer-slot.ts';

/** Kafka's own default of `max.message.bytes`, for a topic whose setting cannot be read. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** A record batch's header (format v2). */
const BATCH_OVERHEAD = 61;
/** A record's fixed fields at their longest (length, attributes, timestamp and offset deltas, counts). */
const RECORD_OVERHEAD = 36;
/** The two length varints of one header at their longest. */
const HEADER_OVERHEAD = 10;

/** An upper bound of the bytes `record` takes in a record batch. */
export function recordSize(record: OutboundRecord): number {
  let size = RECORD_OVERHEAD + record.value.length + (record.key?.length ?? 0);
  for (const name in record.headers) {
    const value = record.headers[name]!;
    size += HEADER_OVERHEAD + Buffer.byteLength(name) + (typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  }
  return size;
}

/** What a producer needs of its binder. */
export interface ProducerHost {
  readonly name: string;
  readonly state: BinderState;
  readonly clock: Clock;
  /** How long a send waits for acks=all before ConfirmTimeoutError (ms). */
  readonly sendTimeout: number;
  /** Records in one produce request at most. */
  readonly maxBatch: number;
  setState(state: BinderState): void;
  unavailable(what: string, error: unknown): BinderUnavailableError;
  forgetProducer(output: KafkaOutput): void;
}

/**
 * Where a record goes when the runtime did not pick its partition: a keyed record where
 * Kafka's own partitioner puts it (murmur2 of the key's bytes over all of the topic's
 * partitions, so a Java producer with the same key agrees), any other round-robin over the
 * partitions kafkajs knows. Either way the chosen partition is noted, because the receipt must
 * name it, and kept: kafkajs asks again when it retries a request, and a retried record must
 * go where its first attempt went, with the same sequence numbers, or Kafka stores it twice
 * and takes the next record of the first partition for a duplicate (producer-slot.ts). A
 * partition kafkajs does not know fails the send rather than being skipped in silence
 * (kafkajs drops records of unknown partitions).
 */
export function recordPartitioner(chosen: WeakMap<object, number>) {
  let next = 0;
  return ({ partitionMetadata, message }: { partitionMetadata: { partitionId: number }[]; message: object & { partition?: number; key?: Buffer | string | null } }): number => {
    const before = chosen.get(message);
    if (before !== undefined) return before;
    let partition = message.partition;
    if ((partition === undefined || partition === null) && message.key) {
      partition = (murmur2(Buffer.from(message.key)) & 0x7fffffff) % partitionMetadata.length;
    } else if (partition === undefined || partition === null) {
      partition = partitionMetadata[next % partitionMetadata.length]!.partitionId;
      next = (next + 1) % Math.max(1, partitionMetadata.length);
    } else if (!partitionMetadata.some((p) => p.partitionId === partition)) {
      throw new BinderUnavailableError(`partition ${partition} is not (yet) known to the producer`);
    }
    chosen.set(message, partition);
    return partition;
  };
}

interface PendingSend {
  record: OutboundRecord;
  size: number;
  /** Settles the caller once; later outcomes (a batch answered after the binder gave up on it) are ignored. */
  settle: (outcome: SendReceipt | Error) => void;
}

export class KafkaOutput implements Producer {
  private pending: PendingSend[] = [];
  private inflight: PendingSend[] = [];
  private flushScheduled = false;
  private sending = false;
  private closed = false;
  /** The most a record batch of this topic may hold, less the batch's own header. */
  private readonly budget: number;

  constructor(
    private readonly binder: ProducerHost,
    private readonly topic: string,
    private readonly producer: ProducerSlot,
    private readonly chosen: WeakMap<object, number>,
    maxMessageBytes: number,
  ) {
    this.budget = maxMessageBytes - BATCH_OVERHEAD;
  }

  send(message: OutboundMessage): Promise<SendReceipt> {
    if (this.closed) return Promise.reject(new BinderUnavailableError(`the producer of ${this.topic} is closed`));
    if (this.binder.state === 'down') {
      return Promise.reject(new BinderUnavailableError(`Kafka is unreachable (binder "${this.binder.name}")`));
    }
    const record = outboundRecord(message);
    const size = recordSize(record);
    if (size > this.budget) {
      return Promise.reject(new MessageTooLargeError(
        `the message is larger than Kafka takes on topic ${this.topic} (max.message.bytes ${this.budget + BATCH_OVERHEAD}, with its headers and framing)`,
      ));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: SendReceipt | Error): void => {
        if (settled) return;
        settled = true;
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      this.pending.push({ record, size, settle });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Kafka is gone: every send waiting here or in flight is refused now (the client retries). */
  failAll(error: Error): void {
    for (const send of this.pending.splice(0)) send.settle(error);
    for (const send of this.inflight) send.settle(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.binder.forgetProducer(this);
    await this.producer.close();
  }

  /**
   * One produce request at a time per binding: what arrives while one is in flight goes in
   * the next. Idle, a send leaves at once; under load, batches grow by themselves (kafkajs
   * serialises an idempotent producer's requests anyway).
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.sending || this.pending.length === 0) return;
    let count = 0;
    let bytes = 0;
    while (count < this.pending.length && count < this.binder.maxBatch && (count === 0 || bytes + this.pending[count]!.size <= this.budget)) {
      bytes += this.pending[count]!.size;
      count++;
    }
    const batch = this.pending.splice(0, count);
    this.inflight = batch;
    this.sending = true;
    void this.sendBatch(batch).finally(() => {
      this.inflight = [];
      this.sending = false;
      this.flush();
    });
  }

  private async sendBatch(batch: PendingSend[]): Promise<void> {
    const { clock } = this.binder;
    let timer: unknown;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = clock.setTimeout(
        () => reject(new ConfirmTimeoutError(`Kafka did not acknowledge within ${this.binder.sendTimeout} ms`)),
        this.binder.sendTimeout,
      );
    });
    const producer = this.producer.acquire();
    const sent = producer.then((p) => p.send({ topic: this.topic, acks: -1, messages: batch.map((r) => r.record) }));
    try {
      const metadata: RecordMetadata[] = await Promise.race([sent, timeout]);
      if (metadata.some((m) => m.errorCode !== 0)) throw new Error(`produce error ${metadata.find((m) => m.errorCode !== 0)?.errorCode}`);
      this.binder.setState('up');
      for (const p of batch) p.settle({ partition: this.chosen.get(p.record) ?? p.record.partition });
    } catch (error) {
      // Failed, or given up on while the client still tries: what Kafka stored is unknown.
      this.producer.retire(producer, sent);
      const failure = error instanceof ConfirmTimeoutError ? error : this.binder.unavailable(`send to ${this.topic} failed`, error);
      for (const p of batch) p.settle(failure);
    } finally {
      clock.clearTimeout(timer);
    }
  }
}
