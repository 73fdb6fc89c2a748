/**
 * The broker-neutral binder contract. One adapter per broker implements it
 * (binders/memory, binders/rabbit, binders/kafka); nothing outside an adapter imports a
 * broker client, and no broker type appears in these signatures.
 *
 * Division of labour: the adapter owns the broker topology, connections, reconnects,
 * confirms and the broker-side meaning of ack / requeue / dead-letter. The runtime above
 * owns HTTP, retries with back-off, ack timeouts, partition selection and metrics, so those
 * behave the same on every broker.
 */
import type { BaseLogger } from 'pino';
import type { BinderConfig, BindingConfig } from '../config/model.ts';

/** What the runtime hands an adapter when it creates it (see binders/index.ts). */
export interface BinderDeps {
  logger: BaseLogger;
  /** Consumer lag per binding and partition; adapters that can measure it report it here. */
  onConsumerLag?: (binding: string, partition: number, lag: number) => void;
  /**
   * An input that started once and, starting again (after a reconnect), found its topology
   * refused (the TopologyRefusedError's message), or `undefined` once it consumes again.
   */
  onTopologyRefused?: (binding: string, reason: string | undefined) => void;
}

/** A message on its way to the broker. */
export interface OutboundMessage {
  id: string;
  payload: Buffer;
  contentType: string;
  /** User headers (from `x-msg-<name>`), already without the prefix. */
  headers: Record<string, string>;
  /** Chosen by the runtime for partitioned bindings; absent otherwise. */
  partition?: number;
  /** The record key (Kafka; `x-message-key` or `producer.messageKeyExpression`); other brokers have none. */
  key?: string;
}

/** What the broker confirmed. */
export interface SendReceipt {
  partition?: number;
}

/** A message received from the broker. */
export interface InboundMessage {
  id: string;
  payload: Buffer;
  contentType: string;
  headers: Record<string, string>;
  partition?: number;
  /** 1 on first delivery; the adapter raises it when the broker says it is a redelivery. */
  attempt: number;
}

/**
 * One received message awaiting its outcome. Exactly one of `ack`, `requeue` or
 * `deadLetter` settles it; later calls are no-ops, so racing paths (an ack arriving as an
 * ack timeout fires) cannot settle a message twice.
 */
export interface Delivery extends InboundMessage {
  /** Done: the broker forgets the message. */
  ack(): Promise<void>;
  /** Give it back to the broker for redelivery, to this or another consumer. */
  requeue(): Promise<void>;
  /**
   * Move it to the binding's dead-letter destination with `reason` as the exception
   * message, then ack the original. With `deadLetter: false` the message is dropped.
   */
  deadLetter(reason: string): Promise<void>;
}

/**
 * The message fields of a Delivery implemented as a class: one object per message with its
 * settling in prototype methods, where an object literal of closures per message showed on
 * push's allocation profile. `partition` is only set when there is one.
 */
export abstract class DeliveryFields implements InboundMessage {
  readonly id: string;
  readonly payload: Buffer;
  readonly contentType: string;
  readonly headers: Record<string, string>;
  declare readonly partition?: number;
  readonly attempt: number;

  constructor(message: InboundMessage) {
    this.id = message.id;
    this.payload = message.payload;
    this.contentType = message.contentType;
    this.headers = message.headers;
    if (message.partition !== undefined) this.partition = message.partition;
    this.attempt = message.attempt;
  }
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface Producer {
  /** Resolves once the broker has confirmed the message (publisher confirm, acks=all). */
  send(message: OutboundMessage): Promise<SendReceipt>;
  close(): Promise<void>;
}

export interface Consumer {
  /** Stop taking new messages; deliveries in flight stay unsettled. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stop consuming; unsettled deliveries go back to the broker. */
  close(): Promise<void>;
}

export type BinderState = 'connecting' | 'up' | 'down' | 'closed';

export interface Binder {
  readonly name: string;
  readonly type: BinderConfig['type'];
  readonly state: BinderState;
  /** The broker's version once connected (e.g. "RabbitMQ 3.12.1"), for status and /v1/bindings. */
  readonly brokerVersion?: string;
  /**
   * Connect for the first time. Rejects if the first attempt fails; after that the adapter
   * reconnects by itself with back-off, re-declares its topology and resumes its consumers.
   */
  connect(): Promise<void>;
  onStateChange(listener: (state: BinderState) => void): () => void;
  /** Declares what an output needs (destination, requiredGroups queues) and returns a producer. */
  createProducer(binding: BindingConfig): Promise<Producer>;
  /** Declares what an input needs (group or anonymous queue, DLQ) and starts consuming. */
  createConsumer(binding: BindingConfig, handler: DeliveryHandler): Promise<Consumer>;
  close(): Promise<void>;
}

/** Raised by `Producer.send` when the broker is unreachable or refused the message. */
export class BinderUnavailableError extends Error {
  override readonly name = 'BinderUnavailableError';
}

/**
 * Raised by `createProducer` / `createConsumer` when the broker refuses the binding's topology
 * because an object exists with other settings (a queue with other arguments): retrying cannot
 * help until one side changes, so the binding reports it instead of retrying. The message names
 * the object, the setting that differs and both values.
 */
export class TopologyRefusedError extends Error {
  override readonly name = 'TopologyRefusedError';
}

/** Raised by `Producer.send` when the broker did not confirm in time. */
export class ConfirmTimeoutError extends Error {
  override readonly name = 'ConfirmTimeoutError';
}

/** Raised by `Producer.send`, before anything is sent, for a message larger than the broker takes. */
export class MessageTooLargeError extends Error {
  override readonly name = 'MessageTooLargeError';
}
