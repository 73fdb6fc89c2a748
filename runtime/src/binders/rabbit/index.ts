/**
 * The RabbitMQ binder (amqplib). One connection per binder; one confirm channel publishes
 * for every output (and republishes dead letters); each input consumes on its own channel,
 * so its prefetch is its concurrency and a channel error stays local to one binding.
 *
 * Recovery: when the connection drops, the binder goes `down`, rejects the confirms it was
 * waiting for (the runtime answers 503 and the client retries: nothing unconfirmed was ever
 * acknowledged), forgets the deliveries of the dead channels (the broker redelivers them),
 * reconnects with a capped back-off, declares every topology again, re-creates every
 * consumer, and goes `up`.
 */
import { createHash } from 'node:crypto';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { redactUrl, type BinderConfig, type BindingConfig } from '../../config/model.ts';
import { backOffDelay } from '../../delivery/backoff.ts';
import { systemClock, type Clock } from '../../delivery/clock.ts';
import { RABBIT_DLX, rabbit } from '../../topology/naming.ts';
import { rabbitTopology, type RabbitTopology } from '../../topology/rabbit.ts';
import {
  BinderUnavailableError,
  ConfirmTimeoutError,
  type Binder,
  type BinderDeps,
  type BinderState,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type OutboundMessage,
  type Producer,
  type SendReceipt,
} from '../binder.ts';
import { declareTopology } from './declare.ts';
import { deadLetterProperties, inboundMessage, publishProperties, route, type PublishProperties } from './messages.ts';
import { scrubSecrets, withHeartbeat } from './url.ts';

/** Timer functions, injected so that tests of back-off and confirm timeouts are exact. */
export type Timers = Pick<Clock, 'setTimeout' | 'clearTimeout'>;

/** The reconnect back-off, in the same terms (and computed the same way) as delivery retries. */
export type ReconnectPolicy = Parameters<typeof backOffDelay>[0];

export interface RabbitBinderOptions {
  /** How long a send waits for the broker's confirm before ConfirmTimeoutError (ms). */
  confirmTimeout?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** How often each input reports its queue's depth through `BinderDeps.onConsumerLag` (ms). */
  lagInterval?: number;
  timers?: Timers;
}

export const DEFAULT_CONFIRM_TIMEOUT = 10_000;
export const DEFAULT_LAG_INTERVAL = 5_000;
export const DEFAULT_RECONNECT: ReconnectPolicy = { backOffInitialInterval: 250, backOffMultiplier: 2, backOffMaxInterval: 10_000 };

export function createRabbitBinder(config: BinderConfig, deps: BinderDeps, options: RabbitBinderOptions = {}): Binder {
  if (config.rabbit === undefined) {
    throw new Error(`binder "${config.name}" has type rabbit but no rabbit settings`);
  }
  return new RabbitBinder(config.name, config.rabbit.url, deps, {
    confirmTimeout: options.confirmTimeout ?? DEFAULT_CONFIRM_TIMEOUT,
    reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
    lagInterval: options.lagInterval ?? DEFAULT_LAG_INTERVAL,
    timers: options.timers ?? systemClock,
  });
}

interface ResolvedOptions {
  confirmTimeout: number;
  reconnect: ReconnectPolicy;
  lagInterval: number;
  timers: Timers;
}

interface PendingConfirm {
  fail(error: Error): void;
}

class RabbitBinder implements Binder {
  readonly type = 'rabbit' as const;
  state: BinderState = 'connecting';
  brokerVersion?: string;

  private connection?: ChannelModel;
  private publisher?: Promise<ConfirmChannel>;
  private inspector?: Promise<Channel>;
  /** Why RabbitMQ blocks publishers right now (a memory or disk alarm), if it does. */
  private blockedReason?: string;
  private readonly listeners = new Set<(state: BinderState) => void>();
  private readonly producers = new Set<RabbitProducer>();
  private readonly consumers = new Set<RabbitConsumer>();
  private readonly pendingConfirms = new Set<PendingConfirm>();
  private reconnectTimer?: unknown;
  /** Which reconnect attempt comes next since the connection was lost (1-based, as back-off counts). */
  private reconnectAttempt = 1;
  /** The connection attempt in progress, shared by `connect()` and the reconnect timer. */
  private opening?: Promise<void>;
  private readonly broker: string;

  constructor(
    readonly name: string,
    private readonly url: string,
    readonly deps: BinderDeps,
    readonly options: ResolvedOptions,
  ) {
    this.broker = redactUrl(url);
  }

  async connect(): Promise<void> {
    if (this.state === 'closed') throw new BinderUnavailableError(`binder "${this.name}" is closed`);
    try {
      await this.openOnce();
    } catch (error) {
      this.setState('down');
      throw new BinderUnavailableError(this.describe('cannot connect to RabbitMQ', error));
    }
  }

  onStateChange(listener: (state: BinderState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async createProducer(binding: BindingConfig): Promise<Producer> {
    const producer = new RabbitProducer(this, binding);
    this.producers.add(producer);
    // While the broker is away the producer is declared on reconnect; sends answer 503 meanwhile.
    await this.connectionSettled();
    if (this.connection !== undefined) {
      try {
        await this.declare(this.connection, producer.topology);
      } catch (error) {
        this.producers.delete(producer);
        throw this.unavailable(`cannot declare the topology of binding "${binding.name}"`, error);
      }
    }
    return producer;
  }

  async createConsumer(binding: BindingConfig, handler: DeliveryHandler): Promise<Consumer> {
    const consumer = new RabbitConsumer(this, binding, handler);
    this.consumers.add(consumer);
    await this.connectionSettled();
    // A connection attempt that began after this consumer was added has started it already.
    if (this.connection !== undefined && !consumer.hasChannel) {
      try {
        await consumer.start(this.connection);
      } catch (error) {
        this.consumers.delete(consumer);
        await consumer.close();
        throw this.unavailable(`cannot start consuming binding "${binding.name}"`, error);
      }
    }
    return consumer;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.cancelReconnect();
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.producers.clear();
    this.failPendingConfirms(new BinderUnavailableError(`binder "${this.name}" is closed`));
    const connection = this.connection;
    this.dropConnection();
    await connection?.close().catch(() => undefined);
  }

  /** Publishes on the confirm channel and resolves once the broker confirmed. */
  async publish(exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void> {
    const connection = this.connection;
    if (connection === undefined || this.state !== 'up') {
      throw new BinderUnavailableError(`RabbitMQ binder "${this.name}" is ${this.state}`);
    }
    // A blocked connection would hold the message until the confirm timeout; refusing at
    // once lets the client retry (503) while consumers, which free the alarm, keep going.
    if (this.blockedReason !== undefined) {
      throw new BinderUnavailableError(`RabbitMQ blocks publishers for now (binder "${this.name}"): ${this.blockedReason}`);
    }
    let channel: ConfirmChannel;
    try {
      channel = await this.publisherChannel(connection);
    } catch (error) {
      throw this.unavailable('cannot open a publishing channel', error);
    }
    const { timers, confirmTimeout } = this.options;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error): void => {
        if (settled) return;
        settled = true;
        timers.clearTimeout(timer);
        this.pendingConfirms.delete(pending);
        if (error === undefined) resolve();
        else reject(error);
      };
      const pending: PendingConfirm = { fail: settle };
      const timer = timers.setTimeout(
        () => settle(new ConfirmTimeoutError(`RabbitMQ did not confirm within ${confirmTimeout} ms`)),
        confirmTimeout,
      );
      this.pendingConfirms.add(pending);
      try {
        channel.publish(exchange, routingKey, content, properties, (error: unknown) => {
          // amqplib reports a nack as "message nacked" and a channel that closed first as
          // "channel closed": either way the message is not known to be stored.
          settle(error ? this.unavailable('RabbitMQ did not accept the message', error) : undefined);
        });
      } catch (error) {
        settle(this.unavailable('cannot publish', error));
      }
    });
  }

  /** Declares `topology` on a channel of its own, so a refused declaration closes only that channel. */
  async declare(connection: ChannelModel, topology: RabbitTopology): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await declareTopology(channel, topology);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Messages ready in `queue`, read on a channel kept for such questions: asking about a
   * queue that was just deleted closes that channel, and the next question opens another.
   */
  async queueDepth(queue: string): Promise<number | undefined> {
    const connection = this.connection;
    if (connection === undefined) return undefined;
    if (this.inspector === undefined) {
      const opening = connection.createChannel();
      this.inspector = opening;
      const forget = (): void => {
        if (this.inspector === opening) this.inspector = undefined;
      };
      opening.then((channel) => {
        channel.on('error', () => undefined);
        channel.on('close', forget);
      }, forget);
    }
    try {
      return (await (await this.inspector).checkQueue(queue)).messageCount;
    } catch {
      return undefined;
    }
  }

  get currentConnection(): ChannelModel | undefined {
    return this.connection;
  }

  /** Every line names the binder and its broker (without credentials). */
  log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    this.deps.logger[level]({ binder: this.name, broker: this.broker, ...fields }, message);
  }

  forgetProducer(producer: RabbitProducer): void {
    this.producers.delete(producer);
  }

  forgetConsumer(consumer: RabbitConsumer): void {
    this.consumers.delete(consumer);
  }

  /** A broker error as a BinderUnavailableError whose message holds no credentials. */
  unavailable(what: string, error: unknown): BinderUnavailableError {
    return new BinderUnavailableError(this.describe(what, error));
  }

  private describe(what: string, error: unknown): string {
    const detail = error instanceof Error ? error.message : String(error);
    return scrubSecrets(`${what} (binder "${this.name}"): ${detail}`, this.url);
  }

  /** Waits out a connection attempt in progress, which declares only what existed when it began. */
  private async connectionSettled(): Promise<void> {
    await this.opening?.catch(() => undefined);
  }

  private openOnce(): Promise<void> {
    if (this.connection !== undefined && this.state === 'up') return Promise.resolve();
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    const connection = await amqp.connect(withHeartbeat(this.url), { clientProperties: { connection_name: `bindery ${this.name}` } });
    connection.on('error', (error: unknown) => {
      this.log('warn', { err: this.describe('connection error', error) }, 'RabbitMQ connection error');
    });
    connection.on('close', () => this.connectionLost(connection));
    connection.on('blocked', (reason: unknown) => {
      if (connection !== this.connection) return;
      this.blockedReason = String(reason);
      this.log('warn', { reason: this.blockedReason }, 'RabbitMQ blocks publishers; sends are refused until it unblocks');
    });
    connection.on('unblocked', () => {
      if (connection !== this.connection) return;
      this.blockedReason = undefined;
      this.log('info', {}, 'RabbitMQ accepts publishers again');
    });
    if (this.state === 'closed') {
      // Closed while connecting: nobody will use this connection.
      await connection.close().catch(() => undefined);
      throw new BinderUnavailableError(`binder "${this.name}" is closed`);
    }
    this.connection = connection;
    const server = connection.connection.serverProperties;
    this.brokerVersion = `${server.product} ${server.version}`;
    try {
      await this.publisherChannel(connection);
    } catch (error) {
      this.dropConnection();
      await connection.close().catch(() => undefined);
      throw error;
    }
    // One binding whose topology the broker refuses (PRECONDITION_FAILED on a queue someone
    // declared differently) does not keep the others down: its error is logged, its sends
    // fail on their own, and a consumer that cannot start retries by itself.
    for (const producer of [...this.producers]) {
      await this.declare(connection, producer.topology).catch((error: unknown) => {
        this.log('error', { binding: producer.bindingName, err: this.describe('cannot declare the topology', error) },
          'RabbitMQ refused an output\'s topology');
      });
    }
    for (const consumer of [...this.consumers]) {
      await consumer.start(connection).catch((error: unknown) => consumer.retryLater(error));
    }
    // Lost again while recovering: the reconnect that loss scheduled takes over.
    if (this.connection !== connection) throw new Error('the connection closed while the topology was being declared');
    this.reconnectAttempt = 1;
    this.log('info', { brokerVersion: this.brokerVersion }, 'connected to RabbitMQ');
    this.setState('up');
  }

  private publisherChannel(connection: ChannelModel): Promise<ConfirmChannel> {
    if (this.publisher === undefined) {
      const opening = connection.createConfirmChannel();
      this.publisher = opening;
      opening.then(
        (channel) => {
          channel.on('error', (error: unknown) => {
            this.log('warn', { err: this.describe('publishing channel error', error) }, 'RabbitMQ publishing channel closed');
          });
          // A channel error (a deleted exchange, say) closes only this channel: the next
          // send opens a new one.
          channel.on('close', () => {
            if (this.publisher === opening) this.publisher = undefined;
          });
        },
        () => {
          if (this.publisher === opening) this.publisher = undefined;
        },
      );
    }
    return this.publisher;
  }

  private connectionLost(connection: ChannelModel): void {
    if (connection !== this.connection) return;
    this.dropConnection();
    if (this.state === 'closed') return;
    this.log('warn', {}, 'lost the connection to RabbitMQ; reconnecting');
    this.setState('down');
    this.scheduleReconnect();
  }

  private dropConnection(): void {
    this.connection = undefined;
    this.publisher = undefined;
    this.inspector = undefined;
    this.blockedReason = undefined;
    this.failPendingConfirms(new BinderUnavailableError(`lost the connection to RabbitMQ (binder "${this.name}")`));
    for (const consumer of this.consumers) consumer.detach();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed' || this.reconnectTimer !== undefined) return;
    const delay = backOffDelay(this.options.reconnect, this.reconnectAttempt);
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.options.timers.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state === 'closed' || this.connection !== undefined) return;
      this.openOnce().catch((error: unknown) => {
        this.log('warn', { err: this.describe('reconnect failed', error), attempt: this.reconnectAttempt }, 'RabbitMQ reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== undefined) this.options.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private failPendingConfirms(error: Error): void {
    for (const pending of [...this.pendingConfirms]) pending.fail(error);
  }

  private setState(state: BinderState): void {
    if (this.state === state || (this.state === 'closed' && state !== 'closed')) return;
    this.state = state;
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch (error) {
        this.log('error', { err: error }, 'binder state listener failed');
      }
    }
  }
}

class RabbitProducer implements Producer {
  readonly topology: RabbitTopology;

  constructor(private readonly binder: RabbitBinder, private readonly binding: BindingConfig) {
    this.topology = rabbitTopology(binding);
  }

  get bindingName(): string {
    return this.binding.name;
  }

  async send(message: OutboundMessage): Promise<SendReceipt> {
    const partitioned = this.binding.producer.partitionCount > 1;
    const partition = partitioned ? message.partition ?? 0 : undefined;
    const { exchange, routingKey } = route(this.binding.destination, partition);
    await this.binder.publish(exchange, routingKey, message.payload, publishProperties({ ...message, partition }));
    return partition === undefined ? {} : { partition };
  }

  async close(): Promise<void> {
    this.binder.forgetProducer(this);
  }
}

/** One channel's life: deliveries settle only on the channel they came from, while it is open. */
interface ChannelLife {
  channel: Channel;
  open: boolean;
}

class RabbitConsumer implements Consumer {
  private life?: ChannelLife;
  private consumerTags: string[] = [];
  private queues: string[] = [];
  private paused = false;
  private closed = false;
  private retryTimer?: unknown;
  private retryAttempt = 1;
  private lagTimer?: unknown;
  /**
   * Attempts already made by messages this consumer gave back. A classic queue only flags
   * a redelivery, so without this a message nacked again and again would stay at attempt 2
   * and never reach maxAttempts.
   */
  private readonly requeues = new Map<string, number>();
  private readonly deadLetterEnabled: boolean;

  constructor(
    private readonly binder: RabbitBinder,
    private readonly binding: BindingConfig,
    private readonly handler: DeliveryHandler,
  ) {
    // Anonymous queues have no DLQ (SPEC section 2 names DLQs after groups only).
    this.deadLetterEnabled = binding.consumer.deadLetter && binding.group !== undefined;
  }

  /** Opens a channel on `connection`, declares this input's topology and consumes. */
  async start(connection: ChannelModel): Promise<void> {
    if (this.closed) return;
    const previous = this.life;
    this.detach();
    previous?.channel.close().catch(() => undefined);
    const channel = await connection.createChannel();
    const life: ChannelLife = { channel, open: true };
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
      await channel.prefetch(this.binding.consumer.concurrency);
      if (!this.paused) await this.consume(connection, life);
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
    const life = this.life;
    const tags = this.consumerTags;
    this.consumerTags = [];
    if (life?.open) await Promise.all(tags.map((tag) => life.channel.cancel(tag).catch(() => undefined)));
  }

  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    const connection = this.binder.currentConnection;
    const life = this.life;
    // An anonymous (auto-delete) queue went away with its last consumer when paused, so
    // resuming declares the topology again before consuming.
    if (connection !== undefined && life?.open) await this.consume(connection, life);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.binder.forgetConsumer(this);
    if (this.retryTimer !== undefined) this.binder.options.timers.clearTimeout(this.retryTimer);
    if (this.lagTimer !== undefined) this.binder.options.timers.clearTimeout(this.lagTimer);
    const life = this.life;
    const open = life?.open === true;
    this.detach();
    // Closing the channel hands its unacked deliveries back to the broker.
    if (life !== undefined && open) await life.channel.close().catch(() => undefined);
  }

  get hasChannel(): boolean {
    return this.life?.open === true;
  }

  /** Forgets the current channel: its unsettled deliveries become no-ops. */
  detach(): void {
    if (this.life !== undefined) this.life.open = false;
    this.life = undefined;
    this.consumerTags = [];
  }

  retryLater(error: unknown): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = backOffDelay(this.binder.options.reconnect, this.retryAttempt);
    this.retryAttempt += 1;
    this.binder.log('warn', { binding: this.binding.name, err: this.binder.unavailable('consumer failed', error).message, retryIn: delay },
      'RabbitMQ consumer will start again');
    this.retryTimer = this.binder.options.timers.setTimeout(() => {
      this.retryTimer = undefined;
      const connection = this.binder.currentConnection;
      // Without a connection the binder's reconnect starts every consumer anyway.
      if (connection === undefined || this.closed) return;
      this.start(connection).catch((e: unknown) => this.retryLater(e));
    }, delay);
  }

  private countRequeue(key: string, attempt: number): void {
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
    this.lagTimer = this.binder.options.timers.setTimeout(() => {
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
    // An anonymous consumer gets a new queue each time: the old one died with its
    // connection or its last consumer, together with what it held.
    const anonymousQueue = this.binding.group === undefined ? rabbit.anonymousQueue(this.binding.destination) : undefined;
    const topology = rabbitTopology(this.binding, anonymousQueue === undefined ? {} : { anonymousQueue });
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
    const received = inboundMessage(message, queue, this.binding.destination, this.binding.contentType);
    const requeueKey = this.requeues.size > 0 ? requeueKeyOf(message) : undefined;
    const earlier = requeueKey === undefined ? undefined : this.requeues.get(requeueKey);
    const inbound = earlier === undefined ? received : { ...received, attempt: Math.max(received.attempt, earlier + 1) };
    let settled = false;
    const settle = async (action: (channel: Channel) => Promise<void> | void): Promise<void> => {
      if (settled) return;
      settled = true;
      // A delivery of a channel that died is already back in the queue: nothing to settle.
      if (!life.open) return;
      await action(life.channel);
    };
    const delivery: Delivery = {
      ...inbound,
      ack: () => settle((channel) => {
        if (requeueKey !== undefined) this.requeues.delete(requeueKey);
        quietly(() => channel.ack(message));
      }),
      requeue: () => settle((channel) => {
        this.countRequeue(requeueKeyOf(message), inbound.attempt);
        quietly(() => channel.nack(message, false, true));
      }),
      deadLetter: (reason: string) => settle(async (channel) => {
        if (this.deadLetterEnabled) {
          try {
            await this.binder.publish(RABBIT_DLX, rabbit.dlqRoutingKey(queue), message.content, deadLetterProperties(message, reason));
          } catch (error) {
            // Not stored in the DLQ: the original goes back to the queue rather than being lost.
            if (life.open) quietly(() => channel.nack(message, false, true));
            throw error;
          }
        }
        if (requeueKey !== undefined) this.requeues.delete(requeueKey);
        if (life.open) quietly(() => channel.ack(message));
      }),
    };
    try {
      this.handler(delivery);
    } catch (error) {
      this.binder.log('error', { binding: this.binding.name, err: error }, 'delivery handler threw');
    }
  }
}

const MAX_TRACKED_REQUEUES = 10_000;

/** What identifies a message across redeliveries: its message_id, or else its body. */
function requeueKeyOf(message: ConsumeMessage): string {
  const id: unknown = message.properties.messageId;
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `sha1:${createHash('sha1').update(message.content).digest('base64')}`;
}

/** amqplib throws when a channel closed between the check and the call; the broker redelivers then. */
function quietly(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone, and with it the delivery: nothing left to settle.
  }
}
