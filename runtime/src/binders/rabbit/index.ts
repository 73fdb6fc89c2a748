/**
 * The RabbitMQ binder (amqplib): its connections and its producers. Publishing and consuming
 * use separate connections, as Spring AMQP's do: RabbitMQ blocks a connection that publishes
 * while a memory or disk alarm is on, and a blocked connection stops reading, acks included,
 * so consumers that share it would stop draining the very queues whose draining clears the
 * alarm. One confirm channel publishes for every output and republishes dead letters
 * (publisher.ts); each input consumes on its own channel (consumer.ts), so its prefetch is its
 * concurrency and a channel error stays local to one binding. Declarations run on the
 * consuming connection, which is never blocked.
 *
 * Recovery: when either connection drops, the binder goes `down`, closes the other, rejects
 * the confirms it was waiting for (the runtime answers 503 and the client retries: nothing
 * unconfirmed was ever acknowledged), forgets the deliveries of the dead channels (the broker
 * redelivers them), reconnects both with a capped back-off, declares every topology again,
 * re-creates every consumer, and goes `up`.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { systemClock, type Clock } from '../../../../time/clock.ts';
import { retryDelay, type RetryPolicy } from '../../../../time/retry.ts';
import { declareRabbitTopology } from '../../../../topology/rabbit/declare.ts';
import { rabbitTopology, type RabbitTopology } from '../../../../topology/rabbit/desired.ts';
import { describeConflict, isPreconditionFailed, topologyConflict } from '../../../../topology/rabbit/refusal.ts';
import type { BinderConfig, BindingConfig } from '../../config/model.ts';
import { redact, urlSecrets } from '../../redact.ts';
import {
  BinderUnavailableError,
  TopologyRefusedError,
  type Binder,
  type BinderDeps,
  type BinderState,
  type Consumer,
  type DeliveryHandler,
  type OutboundMessage,
  type Producer,
  type SendReceipt,
} from '../binder.ts';
import { RabbitConsumer, type ConsumerHost } from './consumer.ts';
import { publishProperties, route, type PublishProperties, type Route } from './messages.ts';
import { RabbitPublisher } from './publisher.ts';
import { amqpSocket, coalesceWrites } from './socket-writes.ts';
import { withHeartbeat } from './url.ts';

export interface RabbitBinderOptions {
  /** How long a send waits for the broker's confirm before ConfirmTimeoutError (ms). */
  confirmTimeout?: number;
  /** Reconnects, and consumers starting again on a live connection. */
  reconnect?: Partial<RetryPolicy>;
  /** How often each input reports its queue's depth through `BinderDeps.onConsumerLag` (ms). */
  lagInterval?: number;
  /** Back-off, confirm timeouts and lag reports run on it, so tests of them are exact. */
  clock?: Clock;
}

export const DEFAULT_CONFIRM_TIMEOUT = 10_000;
export const DEFAULT_LAG_INTERVAL = 5_000;
export const DEFAULT_RECONNECT: RetryPolicy = { initialMs: 250, multiplier: 2, maxMs: 10_000 };
/** How long the TCP connect and AMQP handshake of one connection may take. */
export const CONNECT_TIMEOUT_MS = 10_000;

export function createRabbitBinder(config: BinderConfig, deps: BinderDeps, options: RabbitBinderOptions = {}): Binder {
  if (config.rabbit === undefined) {
    throw new Error(`binder "${config.name}" has type rabbit but no rabbit settings`);
  }
  return new RabbitBinder(config.name, config.rabbit.url, deps, {
    confirmTimeout: options.confirmTimeout ?? DEFAULT_CONFIRM_TIMEOUT,
    reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
    lagInterval: options.lagInterval ?? DEFAULT_LAG_INTERVAL,
    clock: options.clock ?? systemClock,
  });
}

interface ResolvedOptions {
  confirmTimeout: number;
  reconnect: RetryPolicy;
  lagInterval: number;
  clock: Clock;
}

class RabbitBinder implements Binder, ConsumerHost {
  readonly type = 'rabbit' as const;
  state: BinderState = 'connecting';
  brokerVersion?: string;

  /** Consumers, declarations and queue depth. */
  private connection?: ChannelModel;
  /** The confirm channel only: the connection an alarm may block. */
  private publishing?: ChannelModel;
  private readonly publisher: RabbitPublisher;
  private inspector?: Promise<Channel>;
  /** Why RabbitMQ blocks publishers right now (a memory or disk alarm), if it does. */
  private blockedReason?: string;
  private readonly listeners = new Set<(state: BinderState) => void>();
  private readonly producers = new Set<RabbitProducer>();
  private readonly consumers = new Set<RabbitConsumer>();
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
    this.broker = redact(url);
    this.publisher = new RabbitPublisher(this);
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
        throw error instanceof TopologyRefusedError ? error : this.unavailable(`cannot declare the topology of binding "${binding.name}"`, error);
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
        throw error instanceof TopologyRefusedError ? error : this.unavailable(`cannot start consuming binding "${binding.name}"`, error);
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
    this.publisher.failAll(new BinderUnavailableError(`binder "${this.name}" is closed`));
    const connections = [this.connection, this.publishing];
    this.dropConnection();
    await Promise.all(connections.map((c) => c?.close().catch(() => undefined)));
  }

  /**
   * Publishes on the confirm channel and resolves once the broker confirmed. Not async, as
   * the publisher's publish: a send is one promise from here to the confirm.
   */
  publish(exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void> {
    const publishing = this.publishing;
    if (publishing === undefined || this.state !== 'up') {
      return Promise.reject(new BinderUnavailableError(`RabbitMQ binder "${this.name}" is ${this.state}`));
    }
    // A blocked connection would hold the message until the confirm timeout; refusing at
    // once lets the client retry (503) while consumers, which free the alarm, keep going.
    if (this.blockedReason !== undefined) {
      return Promise.reject(new BinderUnavailableError(`RabbitMQ blocks publishers for now (binder "${this.name}"): ${this.blockedReason}`));
    }
    return this.publisher.publish(publishing, exchange, routingKey, content, properties);
  }

  /**
   * Declares `topology` on a channel of its own, so a refused declaration closes only that
   * channel. An object that exists with other settings is a TopologyRefusedError.
   */
  async declare(connection: ChannelModel, topology: RabbitTopology): Promise<void> {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await declareRabbitTopology(channel, topology);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!isPreconditionFailed(message)) throw error;
      const conflict = topologyConflict(message);
      throw new TopologyRefusedError(conflict ? describeConflict(conflict) : `RabbitMQ refused the binding's topology: ${message}`);
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
    return redact(`${what} (binder "${this.name}"): ${detail}`, urlSecrets(this.url));
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

  private async connectOne(role: 'consume' | 'publish'): Promise<ChannelModel> {
    // A broker that accepts the socket and never speaks must fail the attempt, not hold it.
    const connection = await amqp.connect(withHeartbeat(this.url), { clientProperties: { connection_name: `bindery ${this.name} (${role})` }, timeout: CONNECT_TIMEOUT_MS });
    connection.on('error', (error: unknown) => {
      this.log('warn', { connection: role, err: this.describe('connection error', error) }, 'RabbitMQ connection error');
    });
    connection.on('close', () => this.connectionLost(connection));
    // The publishing connection carries a burst of publishes per event-loop turn, the consuming
    // one the acks of a turn's answers from the app (one frame each behind a push still out):
    // one writev for each burst.
    const socket = amqpSocket(connection);
    if (socket !== undefined) coalesceWrites(socket);
    return connection;
  }

  private async open(): Promise<void> {
    const connection = await this.connectOne('consume');
    let publishing: ChannelModel;
    try {
      publishing = await this.connectOne('publish');
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
    publishing.on('blocked', (reason: unknown) => {
      if (publishing !== this.publishing) return;
      this.blockedReason = String(reason);
      this.log('warn', { reason: this.blockedReason }, 'RabbitMQ blocks publishers; sends are refused until it unblocks');
    });
    publishing.on('unblocked', () => {
      if (publishing !== this.publishing) return;
      this.blockedReason = undefined;
      this.log('info', {}, 'RabbitMQ accepts publishers again');
    });
    if (this.state === 'closed') {
      // Closed while connecting: nobody will use these connections.
      await Promise.all([connection.close().catch(() => undefined), publishing.close().catch(() => undefined)]);
      throw new BinderUnavailableError(`binder "${this.name}" is closed`);
    }
    this.connection = connection;
    this.publishing = publishing;
    const server = connection.connection.serverProperties;
    this.brokerVersion = `${server.product} ${server.version}`;
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
    if (this.connection !== connection || this.publishing !== publishing) throw new Error('a connection closed while the topology was being declared');
    this.reconnectAttempt = 1;
    this.log('info', { brokerVersion: this.brokerVersion }, 'connected to RabbitMQ');
    this.setState('up');
  }

  /** Either connection lost: both go, and come back together. */
  private connectionLost(connection: ChannelModel): void {
    if (connection !== this.connection && connection !== this.publishing) return;
    const other = connection === this.connection ? this.publishing : this.connection;
    this.dropConnection();
    void other?.close().catch(() => undefined);
    if (this.state === 'closed') return;
    this.log('warn', {}, 'lost the connection to RabbitMQ; reconnecting');
    this.setState('down');
    this.scheduleReconnect();
  }

  private dropConnection(): void {
    this.connection = undefined;
    this.publishing = undefined;
    this.publisher.reset();
    this.inspector = undefined;
    this.blockedReason = undefined;
    this.publisher.failAll(new BinderUnavailableError(`lost the connection to RabbitMQ (binder "${this.name}")`));
    for (const consumer of this.consumers) consumer.detach();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed' || this.reconnectTimer !== undefined) return;
    const delay = retryDelay(this.options.reconnect, this.reconnectAttempt);
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.options.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state === 'closed' || this.connection !== undefined) return;
      this.openOnce().catch((error: unknown) => {
        this.log('warn', { err: this.describe('reconnect failed', error), attempt: this.reconnectAttempt }, 'RabbitMQ reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== undefined) this.options.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
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

/** The receipt of every unpartitioned send: RabbitMQ's confirm says nothing more. */
const UNPARTITIONED: SendReceipt = Object.freeze({});

class RabbitProducer implements Producer {
  readonly topology: RabbitTopology;
  /** Where an unpartitioned binding's messages go, worked out once. */
  private readonly unpartitioned: Route;
  private readonly resolveUnpartitioned = (): SendReceipt => UNPARTITIONED;

  constructor(private readonly binder: RabbitBinder, private readonly binding: BindingConfig) {
    this.topology = rabbitTopology(binding);
    this.unpartitioned = route(binding.destination, undefined);
  }

  get bindingName(): string {
    return this.binding.name;
  }

  send(message: OutboundMessage): Promise<SendReceipt> {
    if (this.binding.producer.partitionCount <= 1) {
      const { exchange, routingKey } = this.unpartitioned;
      return this.binder.publish(exchange, routingKey, message.payload, publishProperties(message, undefined)).then(this.resolveUnpartitioned);
    }
    const partition = message.partition ?? 0;
    const { exchange, routingKey } = route(this.binding.destination, partition);
    const receipt: SendReceipt = { partition };
    return this.binder.publish(exchange, routingKey, message.payload, publishProperties(message, partition)).then(() => receipt);
  }

  async close(): Promise<void> {
    this.binder.forgetProducer(this);
  }
}
