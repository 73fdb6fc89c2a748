/**
 * One input binding consuming a Kafka topic in a consumer group, with the delivery
 * semantics of the binder contract on top of Kafka's single position per partition.
 *
 * - kafkajs fetches; `eachBatch` only queues the records and returns at once, so kafkajs
 *   keeps heartbeating however long a handler takes: a 60 s handler never costs the group a
 *   rebalance. A partition whose queue is full is paused (kafkajs still heartbeats while
 *   paused) and resumed once it drained.
 * - Records of one partition are handed out in order, `batchSize` at a time (one, unless the
 *   binding pushes batches); up to `concurrency` partitions are in flight at once, taken
 *   round-robin so no partition starves the others.
 * - ack and dead-letter settle a record; the partition's position is committed once every
 *   record before it is settled (PartitionProgress), so a crash redelivers, never skips.
 * - requeue puts the record back at the head of its partition with attempt + 1.
 */
import { PartitionAssigners, type Consumer as KafkaJsConsumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import type { BaseLogger } from 'pino';
import type { Clock } from '../../../../time/clock.ts';
import { unsettledLimit, type BindingConfig } from '../../config/model.ts';
import type { KafkaTopology } from '../../../../topology/kafka/desired.ts';
import type { Consumer, Delivery, DeliveryHandler } from '../binder.ts';
import { rangeAssigner } from './assigner.ts';
import { deadLetterRecord, inboundMessage, type FetchedRecord, type OutboundRecord } from './messages.ts';
import { PartitionProgress } from './offsets.ts';

export interface KafkaConsumerTuning {
  sessionTimeout: number;
  heartbeatInterval: number;
  rebalanceTimeout: number;
  /** How long a fetch waits for records; also the pause between fetches of a paused consumer. */
  maxWaitTime: number;
  /** Records queued per partition before the partition is paused. */
  maxQueuedPerPartition: number;
  /** How long createConsumer waits for the group to assign partitions. */
  joinTimeout: number;
  /** Pause before an input restarts its consumer after a crash kafkajs does not recover from. */
  restartDelay: number;
  /**
   * Least time between two offset commits of an input: what settles meanwhile goes in the next
   * one (docs/adr/0051-kafka-commits-at-most-every-100-ms.md).
   */
  commitInterval: number;
  /**
   * Longest time between two reads of the topic's metadata: partitions added to the topic reach
   * the group (kafkajs rejoins once it sees them) at most this long after they were made.
   */
  metadataMaxAge: number;
}

/** What a consumer needs from its binder. */
export interface ConsumerContext {
  kafka: Kafka;
  logger: BaseLogger;
  tuning: KafkaConsumerTuning;
  /** The restart delay and the join timeout run on it. */
  clock: Clock;
  /** Publishes a dead letter and resolves once Kafka acknowledged it (acks=all). */
  publishDeadLetter(topic: string, record: OutboundRecord): Promise<void>;
  /** The end offset of each partition the group has no committed position for. */
  endsWithoutPosition(group: string, topic: string): Promise<Map<number, string>>;
  deleteGroup(group: string): Promise<void>;
  onConsumerLag?: (binding: string, partition: number, lag: number) => void;
  onCrash(error: Error): void;
  onActive(): void;
}

interface QueuedRecord {
  record: FetchedRecord;
  offset: number;
  attempt: number;
}

class PartitionState {
  readonly queue: QueuedRecord[] = [];
  readonly progress = new PartitionProgress();
  inFlight = 0;
  fetchPaused = false;
  highWatermark: number | undefined;
  /** Set when the partition is revoked: deliveries handed out before no longer commit. */
  revoked = false;
  constructor(readonly partition: number) {}
}

export class KafkaInput implements Consumer {
  private readonly consumer: KafkaJsConsumer;
  private readonly partitions = new Map<number, PartitionState>();
  /** `partitions` as an array for the round-robin, made again only when the assignment changes. */
  private order: PartitionState[] | undefined;
  private readonly topic: string;
  private readonly group: string;
  private readonly anonymous: boolean;
  private inFlight = 0;
  private nextPartition = 0;
  private paused = false;
  private closed = false;
  private pumping = false;
  private pumpAgain = false;
  private committing: Promise<void> | undefined;
  private commitAgain = false;
  private commitWaiting = false;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private joined: (() => void) | undefined;
  /** `latest` inputs: where to start on partitions without a committed position. */
  private startPositions = new Map<number, string>();

  constructor(
    private readonly binding: BindingConfig,
    private readonly topology: KafkaTopology & { consumerGroup: string },
    private readonly deadLetterPartitions: number,
    private readonly handler: DeliveryHandler,
    private readonly context: ConsumerContext,
  ) {
    this.topic = topology.topic.name;
    this.group = topology.consumerGroup;
    this.anonymous = binding.group === undefined;
    const { tuning } = context;
    this.consumer = context.kafka.consumer({
      groupId: this.group,
      sessionTimeout: tuning.sessionTimeout,
      heartbeatInterval: tuning.heartbeatInterval,
      rebalanceTimeout: tuning.rebalanceTimeout,
      maxWaitTimeInMs: tuning.maxWaitTime,
      metadataMaxAge: tuning.metadataMaxAge,
      allowAutoTopicCreation: false,
      // range first (what Java members offer); kafkajs' own as the fallback for groups of
      // plain kafkajs consumers.
      partitionAssigners: [rangeAssigner, PartitionAssigners.roundRobin],
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.onAssignment(event.payload.memberAssignment[this.topic] ?? []);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      this.context.logger.warn({ binding: binding.name, err: error.message, restart }, 'kafka consumer crashed');
      this.context.onCrash(error);
      // kafkajs restarts by itself after a retriable error; after any other, this input does.
      if (!restart) this.restartLater();
    });
  }

  private restartLater(): void {
    if (this.closed) return;
    this.context.clock.setTimeout(() => {
      if (this.closed) return;
      // What was handed out before the crash may come again from the committed position.
      for (const state of this.partitions.values()) {
        state.revoked = true;
        state.queue.length = 0;
      }
      this.partitions.clear();
      this.order = undefined;
      this.consumer
        .disconnect()
        .then(() => this.start())
        .catch((error: Error) => {
          this.context.logger.warn({ binding: this.binding.name, err: error.message }, 'kafka consumer restart failed; retrying');
          this.restartLater();
        });
    }, this.context.tuning.restartDelay);
  }

  async start(): Promise<void> {
    const joined = new Promise<void>((resolve) => (this.joined = resolve));
    if (this.topology.startOffset === 'latest') {
      this.startPositions = await this.context.endsWithoutPosition(this.group, this.topic);
    }
    await this.consumer.connect();
    // From the beginning where the group has no position; `latest` inputs seek to the ends
    // they noted above once assigned. A partition added later is read from its beginning
    // either way: all of it was written after this input started.
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
    // Resolve once the group assigned partitions, so that what is sent after createConsumer
    // resolves reaches this consumer (SPEC: an anonymous consumer gets what is sent while it runs).
    const { clock } = this.context;
    let timer: unknown;
    const timeout = new Promise<void>((_resolve, reject) => {
      timer = clock.setTimeout(() => reject(new Error(`group ${this.group} did not assign partitions within ${this.context.tuning.joinTimeout} ms`)), this.context.tuning.joinTimeout);
    });
    try {
      await Promise.race([joined, timeout]);
    } finally {
      clock.clearTimeout(timer);
    }
  }

  async pause(): Promise<void> {
    this.paused = true;
    this.consumer.pause([{ topic: this.topic }]);
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.consumer.resume([{ topic: this.topic }]);
    for (const state of this.partitions.values()) state.fetchPaused = false;
    this.pump();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.partitions.values()) state.queue.length = 0;
    // What was settled is committed; what was not comes again to the group.
    await this.flushCommits();
    await this.consumer.disconnect().catch((error: Error) => {
      this.context.logger.warn({ binding: this.binding.name, err: error.message }, 'kafka consumer did not leave its group cleanly');
    });
    if (this.anonymous) await this.context.deleteGroup(this.group);
  }

  private onAssignment(partitions: number[]): void {
    const assigned = new Set(partitions);
    for (const [partition, state] of this.partitions) {
      if (!assigned.has(partition)) {
        // Another member owns it now: what is queued here is its to deliver.
        state.revoked = true;
        state.queue.length = 0;
        this.partitions.delete(partition);
        this.order = undefined;
      }
    }
    const starts: { topic: string; partition: number; offset: string }[] = [];
    for (const partition of partitions) {
      const offset = this.startPositions.get(partition);
      if (offset === undefined) continue;
      this.startPositions.delete(partition);
      this.consumer.seek({ topic: this.topic, partition, offset });
      starts.push({ topic: this.topic, partition, offset });
    }
    if (starts.length > 0) {
      // Committed at once, so that a rejoin before the first record does not start over.
      this.consumer.commitOffsets(starts).catch((error: Error) => {
        this.context.logger.debug({ binding: this.binding.name, err: error.message }, 'kafka start position not committed');
      });
    }
    this.context.onActive();
    this.context.logger.debug({ binding: this.binding.name, group: this.group, partitions }, 'kafka partitions assigned');
    this.joined?.();
    this.joined = undefined;
    this.scheduleCommit();
  }

  private async onBatch({ batch, pause }: EachBatchPayload): Promise<void> {
    if (this.closed || batch.topic !== this.topic) return;
    const state = this.state(batch.partition);
    state.highWatermark = Number(batch.highWatermark);
    for (const message of batch.messages) {
      const offset = Number(message.offset);
      if (state.progress.accept(offset)) state.queue.push({ record: message, offset, attempt: 1 });
    }
    this.reportLag(state);
    if (state.queue.length >= this.context.tuning.maxQueuedPerPartition) {
      state.fetchPaused = true;
      pause();
    }
    this.pump();
  }

  private state(partition: number): PartitionState {
    let state = this.partitions.get(partition);
    if (state === undefined) {
      state = new PartitionState(partition);
      this.partitions.set(partition, state);
      this.order = undefined;
    }
    return state;
  }

  /** Hands out records while there is room; re-entrant calls (a handler acking at once) loop instead of nesting. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const limit = unsettledLimit(this.binding.consumer);
        while (!this.paused && !this.closed && this.inFlight < limit) {
          const state = this.nextReady();
          if (state === undefined) break;
          // A partition's records go out together, once there is room for all of them, so that
          // a batch push takes them in one request rather than one by one as room frees up.
          const take = Math.min(state.queue.length, Math.max(1, this.binding.consumer.batchSize) - state.inFlight);
          if (take > limit - this.inFlight) break;
          this.nextPartition = (this.nextPartition + 1) % this.partitions.size;
          for (let i = 0; i < take && !this.paused && !this.closed; i++) this.dispatch(state, state.queue.shift()!);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  /** The next partition with records to hand out, round-robin from `nextPartition` (which the caller moves on). */
  private nextReady(): PartitionState | undefined {
    const states = (this.order ??= [...this.partitions.values()]);
    for (let i = 0; i < states.length; i++) {
      const index = (this.nextPartition + i) % states.length;
      const state = states[index]!;
      if (this.canTake(state)) {
        this.nextPartition = index;
        return state;
      }
    }
    return undefined;
  }

  private canTake(state: PartitionState): boolean {
    return state.inFlight < Math.max(1, this.binding.consumer.batchSize) && state.queue.length > 0;
  }

  private dispatch(state: PartitionState, queued: QueuedRecord): void {
    state.inFlight++;
    this.inFlight++;
    if (state.fetchPaused && state.queue.length < this.context.tuning.maxQueuedPerPartition / 2 && !this.paused) {
      state.fetchPaused = false;
      this.consumer.resume([{ topic: this.topic, partitions: [state.partition] }]);
    }
    const message = inboundMessage(queued.record, this.topic, state.partition, this.binding.contentType, queued.attempt);
    let settled = false;
    const release = (): boolean => {
      if (settled) return false;
      settled = true;
      state.inFlight--;
      this.inFlight--;
      return true;
    };
    const done = (): void => {
      if (!state.revoked && !this.closed) {
        state.progress.settle(queued.offset);
        this.scheduleCommit();
      }
      this.pump();
    };
    const delivery: Delivery = {
      ...message,
      ack: async () => {
        if (release()) done();
      },
      requeue: async () => {
        if (!release()) return;
        if (!state.revoked && !this.closed) state.queue.unshift({ ...queued, attempt: queued.attempt + 1 });
        // Asynchronously, so that a handler that requeues at once cannot spin in this stack.
        setImmediate(() => this.pump());
      },
      deadLetter: async (reason: string) => {
        if (settled) return;
        if (this.binding.consumer.deadLetter && this.topology.deadLetterTopic !== undefined) {
          const record = deadLetterRecord(queued.record, this.topic, state.partition, reason, this.deadLetterPartitions);
          try {
            await this.context.publishDeadLetter(this.topology.deadLetterTopic.name, record);
          } catch (error) {
            // Not dead-lettered, so not settled either: it comes again rather than being lost.
            if (release()) {
              if (!state.revoked && !this.closed) state.queue.unshift({ ...queued, attempt: queued.attempt + 1 });
              setImmediate(() => this.pump());
            }
            throw error;
          }
        } else {
          this.context.logger.warn(
            { binding: this.binding.name, topic: this.topic, partition: state.partition, offset: queued.record.offset, reason },
            'message dropped: the binding has no dead-letter topic',
          );
        }
        if (release()) done();
      },
    };
    try {
      this.handler(delivery);
    } catch (error) {
      // Its partition would wait on it for good: a record the runtime cannot take is
      // dead-lettered (or dropped), and said so.
      this.context.logger.error(
        { binding: this.binding.name, topic: this.topic, partition: state.partition, offset: queued.record.offset, err: (error as Error).message },
        'delivery handler threw; record dead-lettered',
      );
      delivery.deadLetter(`the sidecar could not deliver the message: ${(error as Error).message}`).catch((failure: unknown) => {
        this.context.logger.warn({ binding: this.binding.name, err: (failure as Error).message }, 'dead letter not published; the record comes again');
      });
    }
  }

  private scheduleCommit(): void {
    // A commit that has not read the positions yet takes this settle along.
    if (this.commitWaiting) return;
    if (this.committing !== undefined) {
      this.commitAgain = true;
      return;
    }
    // Positions are read commitInterval after the last commit (at the end of this turn at the
    // earliest), so that what settles meanwhile, a record at a time or a batch push's answer,
    // makes one commit rather than a request per record, which showed on push's profile.
    this.commitWaiting = true;
    const { clock, tuning } = this.context;
    const wait = Math.max(0, this.lastCommitAt + tuning.commitInterval - clock.now());
    this.committing = new Promise<void>((resolve) => (wait === 0 ? setImmediate(resolve) : clock.setTimeout(resolve, wait))).then(() => {
      this.commitWaiting = false;
      this.lastCommitAt = clock.now();
      return this.commit();
    }).finally(() => {
      this.committing = undefined;
      if (this.commitAgain && !this.closed) {
        this.commitAgain = false;
        this.scheduleCommit();
      }
    });
  }

  private async commit(): Promise<void> {
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const state of this.partitions.values()) {
      const position = state.progress.pendingCommit();
      if (position === undefined) continue;
      offsets.push({ topic: this.topic, partition: state.partition, offset: String(position) });
      // The lag moves with the position: reported per commit round, not per settled record.
      this.reportLag(state);
    }
    if (offsets.length === 0) return;
    try {
      await this.consumer.commitOffsets(offsets);
      for (const { partition, offset } of offsets) {
        const state = this.partitions.get(partition);
        if (state !== undefined) state.progress.committed = Math.max(state.progress.committed ?? 0, Number(offset));
      }
    } catch (error) {
      // A rebalance in progress refuses commits; the next assignment or settle commits again.
      this.context.logger.debug({ binding: this.binding.name, err: (error as Error).message }, 'kafka offset commit deferred');
    }
  }

  private async flushCommits(): Promise<void> {
    while (this.committing !== undefined) await this.committing;
    await this.commit();
  }

  private reportLag(state: PartitionState): void {
    if (state.highWatermark === undefined || this.context.onConsumerLag === undefined) return;
    this.context.onConsumerLag(this.binding.name, state.partition, state.progress.lag(state.highWatermark));
  }
}
