/**
 * One input binding consuming RabbitMQ queues on a channel of its own, so that its prefetch is
 * what it may hold unsettled (concurrency x batchSize) and a channel error stays local to the binding. The binder (index.ts) owns
 * the connection; this consumer starts again on every new connection it is given, and on a
 * channel that died under a live connection (its queue deleted, say) after a back-off. A
 * topology the broker refuses (TopologyRefusedError) is not retried on a timer.
 *
 * Pausing a group input cancels its consumers: the durable group queue keeps what arrives, and
 * other members of the group take it meanwhile. An anonymous input's queue is auto-delete and
 * would go with its last consumer, so pausing it keeps consuming and holds the (at most the
 * prefetch) deliveries until it resumes: the queue lives as long as the consumer and its connection, and what is sent meanwhile waits in it (SPEC section 2).
 */
import { createHash } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Clock } from '../../../../time/clock.ts';
import { retryDelay, type RetryPolicy } from '../../../../time/retry.ts';
import { RABBIT_DLX, rabbit } from '../../../../topology/naming.ts';
import { rabbitTopology, type RabbitTopology } from '../../../../topology/rabbit/desired.ts';
import { unsettledLimit, type BindingConfig } from '../../config/model.ts';
import { DeliveryFields, TopologyRefusedError, type BinderDeps, type Consumer, type Delivery, type DeliveryHandler, type InboundMessage } from '../binder.ts';
import { deadLetterProperties, inboundMessage, type PublishProperties } from './messages.ts';
import { MessageNotEncodableError } from './publisher.ts';
import { AckBatcher } from './acks.ts';

/** What a consumer needs of its binder. */
export interface ConsumerHost {
  readonly deps: BinderDeps;
  readonly options: { clock: Clock; reconnect: RetryPolicy; lagInterval: number };
  readonly currentConnection: ChannelModel | undefined;
  log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void;
  unavailable(what: string, error: unknown): Error;
  declare(connection: ChannelModel, topology: RabbitTopology): Promise<void>;
  publish(exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void>;
  queueDepth(queue: string): Promise<number | undefined>;
  forgetConsumer(consumer: RabbitConsumer): void;
}

/** One channel's life: deliveries settle only on the channel they came from, while it is open. */
interface ChannelLife {
  channel: Channel;
  open: boolean;
  acks: AckBatcher;
}

export class RabbitConsumer implements Consumer {
  private life?: ChannelLife;
  private consumerTags: string[] = [];
  private queues: string[] = [];
  private paused = false;
  private closed = false;
  private retryTimer?: unknown;
  private retryAttempt = 1;
  /** The broker refused this input's topology when it last started; reported until it starts. */
  private refused = false;
  private lagTimer?: unknown;
  /**
   * Anonymous inputs: their queue and the connection it is exclusive to. One name for as long
   * as the connection lives; a new connection gets a new one, because the broker may still hold
   * the old name for the dead connection (RESOURCE_LOCKED) until it notices it is gone.
   */
  private anonymousQueue?: { connection: ChannelModel; name: string };
  /** Anonymous inputs while paused: deliveries held until resume, in arrival order. */
  private held: Array<() => void> = [];
  /**
   * Attempts already made by messages this consumer gave back. A classic queue only flags
   * a redelivery, so without this a message nacked again and again would stay at attempt 2
   * and never reach maxAttempts.
   */
  private readonly requeues = new Map<string, number>();
  private readonly deadLetterEnabled: boolean;

  constructor(
    private readonly binder: ConsumerHost,
    private readonly binding: BindingConfig,
    private readonly handler: DeliveryHandler,
  ) {
    // Anonymous queues have no DLQ (SPEC section 2 names DLQs after groups only).
    this.deadLetterEnabled = binding.consumer.deadLetter && binding.group !== undefined;
  }

  private get anonymous(): boolean {
    return this.binding.group === undefined;
  }

  /** Opens a channel on `connection`, declares this input's topology and consumes. */
  async start(connection: ChannelModel): Promise<void> {
    if (this.closed) return;
    const previous = this.life;
    this.detach();
    previous?.channel.close().catch(() => undefined);
    const channel = await connection.createChannel();
    const life: ChannelLife = { channel, open: true, acks: new AckBatcher(channel) };
    this.life = life;
    channel.on('error', (error: unknown) => {
      this.binder.log('warn', { binding: this.binding.name, err: this.binder.unavailable('consumer channel error', error).message },
        'RabbitMQ consumer channel closed');
    });
    channel.on('close', () => {
      life.open = false;
      if (this.life !== life) return;
      this.life = undefined;
      this.consumerTags = [];
      // The connection is still there (a lost connection detaches first): only this
      // channel died, for instance because its queue was deleted. Start again.
      if (!this.closed && this.binder.currentConnection === connection) this.retryLater('channel closed');
    });
    try {
      // AMQP's prefetch count is 16 bits wide.
      await channel.prefetch(Math.min(unsettledLimit(this.binding.consumer), 0xffff));
      if (!this.paused || this.anonymous) await this.consume(connection, life);
      if (this.refused) this.binder.deps.onTopologyRefused?.(this.binding.name, undefined);
      this.refused = false;
      this.retryAttempt = 1;
      this.scheduleLagReport();
    } catch (error) {
      if (this.life === life) this.detach();
      await channel.close().catch(() => undefined);
      throw error;
    }
  }

  async pause(): Promise<void> {
    this.paused = true;
    if (this.anonymous) return;
    const life = this.life;
    const tags = this.consumerTags;
    this.consumerTags = [];
    if (life?.open) await Promise.all(tags.map((tag) => life.channel.cancel(tag).catch(() => undefined)));
  }

  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    if (this.anonymous) {
      const held = this.held;
      this.held = [];
      for (const deliver of held) deliver();
      return;
    }
    const connection = this.binder.currentConnection;
    const life = this.life;
    if (connection !== undefined && life?.open) await this.consume(connection, life);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.binder.forgetConsumer(this);
    if (this.retryTimer !== undefined) this.binder.options.clock.clearTimeout(this.retryTimer);
    if (this.lagTimer !== undefined) this.binder.options.clock.clearTimeout(this.lagTimer);
    const life = this.life;
    const open = life?.open === true;
    this.detach();
    // Closing the channel hands its unacked deliveries back to the broker.
    if (life !== undefined && open) await life.channel.close().catch(() => undefined);
  }

  get hasChannel(): boolean {
    return this.life?.open === true;
  }

  /** Forgets the current channel (sending what it acked this turn): its unsettled deliveries become no-ops. */
  detach(): void {
    if (this.life !== undefined) {
      this.life.acks.close();
      this.life.open = false;
    }
    this.life = undefined;
    this.consumerTags = [];
    // Held deliveries were the dead channel's: the broker has them back (or lost them with an anonymous queue).
    this.held = [];
  }

  retryLater(error: unknown): void {
    if (this.closed || this.retryTimer !== undefined) return;
    if (error instanceof TopologyRefusedError) {
      // Not transient: the next connection tries again, a timer would only repeat the refusal.
      this.binder.log('error', { binding: this.binding.name, err: error.message }, 'RabbitMQ refused the input\'s topology; not retrying');
      this.refused = true;
      this.binder.deps.onTopologyRefused?.(this.binding.name, error.message);
      return;
    }
    const delay = retryDelay(this.binder.options.reconnect, this.retryAttempt);
    this.retryAttempt += 1;
    this.binder.log('warn', { binding: this.binding.name, err: this.binder.unavailable('consumer failed', error).message, retryIn: delay },
      'RabbitMQ consumer will start again');
    this.retryTimer = this.binder.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      const connection = this.binder.currentConnection;
      // Without a connection the binder's reconnect starts every consumer anyway.
      if (connection === undefined || this.closed) return;
      this.start(connection).catch((e: unknown) => this.retryLater(e));
    }, delay);
  }

  countRequeue(key: string, attempt: number): void {
    this.requeues.delete(key);
    this.requeues.set(key, attempt);
    // Bounded: the oldest entries (messages probably taken by another consumer) go first.
    for (const oldest of this.requeues.keys()) {
      if (this.requeues.size <= MAX_TRACKED_REQUEUES) break;
      this.requeues.delete(oldest);
    }
  }

  /** Reports each consumed queue's ready messages as the binding's lag, while consuming. */
  private scheduleLagReport(): void {
    const report = this.binder.deps.onConsumerLag;
    if (report === undefined || this.closed || this.lagTimer !== undefined) return;
    this.lagTimer = this.binder.options.clock.setTimeout(() => {
      this.lagTimer = undefined;
      if (this.closed) return;
      const queues = this.life?.open ? this.queues : [];
      void Promise.all(queues.map(async (queue) => {
        const depth = await this.binder.queueDepth(queue);
        if (depth !== undefined) report(this.binding.name, this.partitionOf(queue), depth);
      })).finally(() => this.scheduleLagReport());
    }, this.binder.options.lagInterval);
  }

  private partitionOf(queue: string): number {
    const { consumer, group, destination } = this.binding;
    if (!consumer.partitioned) return 0;
    if (group === undefined) return consumer.instanceIndex;
    const n = Number(queue.slice(rabbit.groupQueue(destination, group).length + 1));
    return Number.isInteger(n) ? n : consumer.instanceIndex;
  }

  private async consume(connection: ChannelModel, life: ChannelLife): Promise<void> {
    if (this.anonymous && this.anonymousQueue?.connection !== connection) {
      this.anonymousQueue = { connection, name: rabbit.anonymousQueue(this.binding.destination) };
    }
    const topology = rabbitTopology(this.binding, this.anonymousQueue === undefined ? {} : { anonymousQueue: this.anonymousQueue.name });
    await this.binder.declare(connection, topology);
    this.queues = topology.consumeQueues;
    const tags: string[] = [];
    for (const queue of this.queues) {
      const reply = await life.channel.consume(queue, (message) => this.receive(life, queue, message));
      tags.push(reply.consumerTag);
    }
    this.consumerTags = tags;
  }

  private receive(life: ChannelLife, queue: string, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer: its queue was deleted. Declaring again repairs it.
      if (this.life === life) {
        this.detach();
        life.channel.close().catch(() => undefined);
        this.retryLater('the broker cancelled the consumer (queue deleted?)');
      }
      return;
    }
    life.acks.track(message);
    const received = inboundMessage(message, queue, this.binding.destination, this.binding.contentType);
    const requeueKey = this.requeues.size > 0 ? requeueKeyOf(message) : undefined;
    const earlier = requeueKey === undefined ? undefined : this.requeues.get(requeueKey);
    if (earlier !== undefined) received.attempt = Math.max(received.attempt, earlier + 1);
    const delivery = new RabbitDelivery(this, life, queue, message, received, requeueKey);
    if (this.paused && this.anonymous) this.held.push(() => this.dispatch(delivery));
    else this.dispatch(delivery);
  }

  private dispatch(delivery: RabbitDelivery): void {
    try {
      this.handler(delivery);
    } catch (error) {
      // A message the runtime cannot take would come back and fail again: dead-lettered
      // (or dropped), never redelivered in a loop.
      this.binder.log('error', { binding: this.binding.name, messageId: delivery.id, err: (error as Error).message }, 'delivery handler threw; message dead-lettered');
      delivery.deadLetter(`the sidecar could not deliver the message: ${(error as Error).message}`).catch(() => undefined);
    }
  }

  /** A delivery acked or dead-lettered: its attempts need no counting any more. */
  forgetRequeue(key: string | undefined): void {
    if (key !== undefined) this.requeues.delete(key);
  }

  /** Republishes `delivery` to the binding's DLQ (when it has one), then acks it. */
  async deadLetterOf(delivery: RabbitDelivery, reason: string): Promise<void> {
    const { life, message, queue } = delivery;
    const acks = life.acks;
    if (this.deadLetterEnabled) {
      try {
        await this.binder.publish(RABBIT_DLX, rabbit.dlqRoutingKey(queue), message.content, deadLetterProperties(message, reason));
      } catch (error) {
        if (error instanceof MessageNotEncodableError) {
          // It would fail the same way every time (its headers and ours do not fit one
          // frame): the broker dead-letters it itself, through the queue's
          // x-dead-letter-exchange, with x-death instead of x-exception-message.
          this.binder.log('warn', { binding: this.binding.name, messageId: delivery.id, reason, err: error.message },
            'dead letter too large to republish; rejected to the queue\'s dead-letter exchange');
          this.forgetRequeue(delivery.requeueKey);
          if (life.open) acks.nack(message, false);
          return;
        }
        // Not stored in the DLQ: the original goes back to the queue rather than being lost.
        if (life.open) acks.nack(message, true);
        throw error;
      }
    }
    this.forgetRequeue(delivery.requeueKey);
    if (life.open) acks.ack(message);
  }
}

const SETTLED = Promise.resolve();

/**
 * One message received on a channel. Acks and requeues only mark the message in its channel's
 * AckBatcher, so they answer with a promise already resolved rather than one made per message.
 */
class RabbitDelivery extends DeliveryFields implements Delivery {
  private settled = false;

  constructor(
    private readonly consumer: RabbitConsumer,
    readonly life: ChannelLife,
    readonly queue: string,
    readonly message: ConsumeMessage,
    inbound: InboundMessage,
    readonly requeueKey: string | undefined,
  ) {
    super(inbound);
  }

  /** True the first time it is settled while its channel lives; a delivery of a channel that died is already back in the queue. */
  private settling(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return this.life.open;
  }

  ack(): Promise<void> {
    if (this.settling()) {
      this.consumer.forgetRequeue(this.requeueKey);
      this.life.acks.ack(this.message);
    }
    return SETTLED;
  }

  requeue(): Promise<void> {
    if (this.settling()) {
      this.consumer.countRequeue(requeueKeyOf(this.message), this.attempt);
      this.life.acks.nack(this.message, true);
    }
    return SETTLED;
  }

  deadLetter(reason: string): Promise<void> {
    return this.settling() ? this.consumer.deadLetterOf(this, reason) : SETTLED;
  }
}

const MAX_TRACKED_REQUEUES = 10_000;

/** What identifies a message across redeliveries: its message_id, or else its body. */
function requeueKeyOf(message: ConsumeMessage): string {
  const id: unknown = message.properties.messageId;
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `sha1:${createHash('sha1').update(message.content).digest('base64')}`;
}
