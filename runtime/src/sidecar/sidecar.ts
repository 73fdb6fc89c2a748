/**
 * The sidecar's core, below HTTP, as a thin facade over its parts: binder slots
 * (binder-slots.ts), binding handles and their states (bindings.ts), and live reload with
 * binder switches (reload.ts). The fastify apps (app.ts) are thin over this in turn; what it
 * refuses it throws as domain errors (errors.ts), which the HTTP layer maps to status codes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { systemClock, within, type Clock } from '../../../time/clock.ts';
import type { RetryPolicy } from '../../../time/retry.ts';
import {
  BinderUnavailableError,
  ConfirmTimeoutError,
  MessageTooLargeError,
  type Binder,
  type BinderState,
  type OutboundMessage,
  type Producer,
  type SendReceipt,
} from '../binders/binder.ts';
import type { BindingConfig, RuntimeConfig } from '../config/model.ts';
import { isJsonContentType, type Listener } from '../delivery/listeners.ts';
import { Metrics } from '../metrics.ts';
import { messageKeyFor, partitionFor } from '../partition/index.ts';
import { safeError } from '../redact.ts';
import { traceSend } from '../tracing/messaging.ts';
import { noTracer, type Tracer } from '../tracing/tracer.ts';
import { BinderSlots } from './binder-slots.ts';
import { Bindings, type BindingView, type OutputHandle, type StateRequest } from './bindings.ts';
import type { SidecarContext } from './context.ts';
import { BindingStoppedError, InvalidPayloadError, PayloadTooLargeError, UnknownDeliveryError, WrongDirectionError } from './errors.ts';
import { jsonSyntaxError } from './json-check.ts';
import { checkMessageLimits } from './limits.ts';
import { Reloader } from './reload.ts';

export type { BindingState, BindingView, StateRequest } from './bindings.ts';

export interface SidecarOptions {
  config: RuntimeConfig;
  logger: Logger;
  clock?: Clock;
  /**
   * Binders owned by someone else, by name (the demo's one memory broker shared by all its
   * sidecars). The sidecar uses them but never closes them.
   */
  sharedBinders?: Record<string, Binder>;
  metrics?: Metrics;
  /** How long a send may wait for its binding to become ready (first connect, binder switch). */
  sendWaitMs?: number;
  /**
   * A group input moving to another binder keeps consuming from the old one until nothing
   * arrived there for this long (default 1 s), so what was sent before the move is not stranded.
   */
  drainQuietMs?: number;
  /** Upper bound of that drain and of waiting for its deliveries to settle (default 30 s). */
  drainMaxMs?: number;
  /** The sidecar's own spans (tracing/); none by default. */
  tracer?: Tracer;
  /**
   * How long `close()` may take in all (default 20 s): in-flight sends and pushes get most of
   * it, closing the binders the rest; whatever is not settled then goes back to the broker.
   */
  shutdownMs?: number;
}

export interface SendRequest {
  body: Buffer;
  contentType?: string;
  id?: string;
  /** `x-partition-key`. */
  key?: string;
  /** `x-message-key`: the Kafka record key. */
  messageKey?: string;
  headers: Record<string, string>;
}

type PreparedSend = OutboundMessage & { id: string };

/** One message of a bulk send: its receipt, or why it was not sent. */
export type SendOutcome = { ok: true; result: SendResult } | { ok: false; error: Error };

export interface SendResult {
  id: string;
  destination: string;
  binder: string;
  partition: number | null;
}

/** Binders that cannot connect, and producers or consumers the broker refused, are tried again with this. */
export const BINDER_RETRY: RetryPolicy = { initialMs: 500, multiplier: 2, maxMs: 30_000 };

export const DEFAULT_SHUTDOWN_MS = 20_000;

/** The part of the shutdown budget kept for closing the binders once in-flight work had its time. */
function closingShare(shutdownMs: number): number {
  return Math.min(5_000, shutdownMs / 4);
}

export class Sidecar {
  readonly metrics: Metrics;
  private config: RuntimeConfig;
  private readonly ctx: SidecarContext;
  private readonly slots: BinderSlots;
  private readonly handles: Bindings;
  private readonly reloader: Reloader;
  private readonly listenerEnds = new Set<() => void>();
  private readonly closing = new AbortController();
  private readonly shutdownMs: number;
  private reloading: Promise<void> = Promise.resolve();
  private accepting = true;
  private closed = false;

  constructor(options: SidecarOptions) {
    this.config = options.config;
    this.metrics = options.metrics ?? new Metrics();
    const clock = options.clock ?? systemClock;
    this.slots = new BinderSlots({
      configured: () => this.config.binders,
      sharedBinders: options.sharedBinders ?? {},
      logger: options.logger,
      clock,
      retry: BINDER_RETRY,
      onConsumerLag: (binder, binding, partition, lag) => {
        const handle = this.handles.get(binding);
        if (handle && handle.slot.binder === binder) this.metrics.lag(handle.binding, partition, lag);
      },
      onStateChange: (slot, state) => this.handles.binderStateChanged(slot, state),
      onTopologyRefused: (binder, binding, reason) => {
        const handle = this.handles.get(binding);
        if (handle && handle.slot.binder === binder) this.handles.topologyRefused(binding, reason);
      },
    });
    this.ctx = {
      logger: options.logger,
      clock,
      metrics: this.metrics,
      slots: this.slots,
      retry: BINDER_RETRY,
      sendWaitMs: options.sendWaitMs ?? 10_000,
      drainQuietMs: options.drainQuietMs ?? 1_000,
      drainMaxMs: options.drainMaxMs ?? 30_000,
      tracer: options.tracer ?? noTracer,
      config: () => this.config,
      isClosed: () => this.closed,
      closing: this.closing.signal,
    };
    this.shutdownMs = options.shutdownMs ?? DEFAULT_SHUTDOWN_MS;
    this.handles = new Bindings(this.ctx);
    this.reloader = new Reloader(this.ctx, this.handles, (next) => (this.config = next));
  }

  get runtimeConfig(): RuntimeConfig {
    return this.config;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Creates every binding; binders that cannot connect yet keep retrying in the background. */
  async start(): Promise<void> {
    for (const warning of this.config.warnings) this.ctx.logger.warn({ warning }, 'configuration: %s', warning);
    await Promise.all(Object.values(this.config.bindings).map((binding) => this.handles.open(binding)));
  }

  /** Not async, as publish: a refusal is a rejected promise, and a usable producer (the common case) adds no promise. */
  send(name: string, request: SendRequest): Promise<SendResult> {
    let handle: OutputHandle;
    let message: PreparedSend;
    try {
      handle = this.output(name);
      message = this.prepare(handle, request);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const { producer } = handle;
    if (producer !== undefined) return this.publish(handle, producer, message);
    // bindings.ts waits for the producer (first connect, binder switch).
    return this.handles.producerFor(handle).then((ready) => this.publish(handle, ready, message));
  }

  /**
   * Many messages of one request (bulk send): each is checked on its own, all that pass are
   * handed to the producer in their order before any confirm is awaited, and each outcome is
   * reported on its own, once its confirm (or refusal) is in; an Error among the requests (a
   * line the HTTP layer could not read) is reported at its place. A refusal of the binding as a
   * whole (unknown, wrong direction, stopped, shutting down) is thrown, as for one send.
   */
  async sendBatch(name: string, requests: Array<SendRequest | Error>): Promise<SendOutcome[]> {
    const handle = this.output(name);
    const prepared = requests.map((request): PreparedSend | Error => {
      if (request instanceof Error) return request;
      try {
        return this.prepare(handle, request);
      } catch (error) {
        return error as Error;
      }
    });
    const producer = handle.producer ?? (await this.handles.producerFor(handle));
    const sends = prepared.map((message) => (message instanceof Error ? Promise.reject(message) : this.publish(handle, producer, message)));
    return (await Promise.allSettled(sends)).map((settled) =>
      settled.status === 'fulfilled' ? { ok: true, result: settled.value } : { ok: false, error: settled.reason as Error });
  }

  private output(name: string): OutputHandle {
    const handle = this.handles.lookup(name);
    if (handle.direction !== 'output') throw new WrongDirectionError(name, 'input', 'send');
    if (!this.accepting) throw new BinderUnavailableError('the sidecar is shutting down');
    if (handle.state === 'stopped') throw new BindingStoppedError(name);
    return handle;
  }

  /** The checks of one message and what it becomes, before the broker is involved. */
  private prepare(handle: OutputHandle, request: SendRequest): PreparedSend {
    const binding = handle.binding;
    if (request.body.length > binding.maxMessageBytes) throw new PayloadTooLargeError(binding.maxMessageBytes);
    const contentType = request.contentType ?? binding.contentType;
    checkMessageLimits(request.id, contentType, request.headers);
    const json = isJsonContentType(contentType);
    if (json) {
      const problem = jsonSyntaxError(request.body);
      if (problem !== undefined) throw new InvalidPayloadError(contentType, problem);
    }
    const { producer } = binding;
    let key: string | undefined;
    let partition: number | undefined;
    if (producer.partitionCount > 1 || producer.messageKeyExpression !== undefined || request.messageKey !== undefined) {
      // Key expressions read a JSON body with Java's number types, so they get the bytes.
      const keyed = { payload: json ? request.body : request.body.toString('utf8'), headers: request.headers, key: request.key, messageKey: request.messageKey };
      key = messageKeyFor(producer, keyed);
      partition = partitionFor(producer, keyed, handle.slot.config.type === 'kafka');
    }
    // One object, its optional fields left undefined rather than spread in.
    return { id: request.id ?? randomUUID(), payload: request.body, contentType, headers: request.headers, partition, key };
  }

  /**
   * Not async: one promise from here to the confirm, with the receipt made in its callback,
   * so that a send spends no promise or closure of its own beyond what the producer makes.
   */
  private publish(handle: OutputHandle, producer: Producer, message: PreparedSend): Promise<SendResult> {
    const current = handle.binding;
    if (handle.slot.binder.state !== 'up') return Promise.reject(new BinderUnavailableError(`binder ${current.binder} is ${handle.slot.binder.state}`));
    const { clock, tracer } = this.ctx;
    const started = clock.now();
    let sending: Promise<SendReceipt>;
    if (tracer.enabled) {
      const span = traceSend(tracer, current, handle.slot.config.type, { id: message.id, headers: message.headers, size: message.payload.length });
      sending = producer.send(span.headers === message.headers ? message : { ...message, headers: span.headers });
      void sending.then((receipt) => span.end({ partition: receipt.partition ?? message.partition }), (error: Error) => span.end({ error }));
    } else {
      sending = producer.send(message);
    }
    const { inflight } = handle;
    inflight.add(sending);
    return sending.then(
      (receipt) => {
        inflight.delete(sending);
        this.metrics.messageSent(current, (clock.now() - started) / 1000);
        return { id: message.id, destination: current.destination, binder: current.binder, partition: receipt.partition ?? message.partition ?? null };
      },
      (error: unknown) => {
        inflight.delete(sending);
        throw this.sendFailure(current, error);
      },
    );
  }

  /** What a failed send answers: a timeout or a too-large message as it is, anything else as the binder being unavailable. */
  private sendFailure(binding: BindingConfig, error: unknown): Error {
    if (error instanceof ConfirmTimeoutError) return new ConfirmTimeoutError(`binder ${binding.binder} did not confirm the message in time: ${error.message}`);
    if (error instanceof MessageTooLargeError) return error;
    if (!(error instanceof BinderUnavailableError)) this.ctx.logger.warn({ binding: binding.name, err: safeError(error) }, 'send failed');
    return new BinderUnavailableError(`binder ${binding.binder} could not take the message: ${(error as Error).message}`);
  }

  /** Opens an SSE listener on an input binding; returns the function that removes it. */
  listen(name: string, listener: Listener & { end(): void }): () => void {
    const handle = this.handles.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'listen');
    if (!this.accepting) throw new BinderUnavailableError('the sidecar is shutting down');
    const remove = handle.hub.add(listener);
    this.listenerEnds.add(listener.end);
    return () => {
      this.listenerEnds.delete(listener.end);
      remove();
    };
  }

  async ack(name: string, id: string): Promise<void> {
    const handle = this.handles.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'ack');
    if (!(await handle.hub.ack(id))) throw new UnknownDeliveryError(name, id);
  }

  async nack(name: string, id: string, options: { requeue: boolean; reason?: string }): Promise<void> {
    const handle = this.handles.lookup(name);
    if (handle.direction !== 'input') throw new WrongDirectionError(name, 'output', 'nack');
    if (!(await handle.hub.nack(id, options.requeue, options.reason))) throw new UnknownDeliveryError(name, id);
  }

  async setState(name: string, request: StateRequest): Promise<BindingView> {
    const handle = this.handles.lookup(name);
    await this.handles.setState(handle, request);
    return this.handles.view(handle);
  }

  bindings(): BindingView[] {
    return this.handles.all().map((handle) => this.handles.view(handle));
  }

  /**
   * Ready while accepting, every binder in use is connected and no binding's topology was
   * refused by its broker (those are named, with why, under `bindings`).
   */
  readiness(): { ready: boolean; binders: Record<string, BinderState>; bindings?: Record<string, string> } {
    const binders = this.slots.states();
    const refused = this.handles.refusals();
    const ready = this.accepting && Object.values(binders).every((state) => state === 'up') && Object.keys(refused).length === 0;
    return { ready, binders, ...(Object.keys(refused).length > 0 && { bindings: refused }) };
  }

  /** Applies a new configuration (see reload.ts); reloads run one after another. */
  reload(next: RuntimeConfig): Promise<void> {
    const run = this.reloading.then(() => this.reloader.apply(this.config, next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /**
   * Graceful stop (SIGTERM): sends are refused from now on, sends in flight finish, inputs
   * stop consuming and give back what they hold, then everything closes, all of it within
   * `shutdownMs`, whatever state the bindings are in (retrying a declaration, a binder that
   * never connected, a push the app never answers).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.accepting = false;
    this.closed = true;
    // Bindings retrying their producer or consumer stop: nothing will use them.
    this.closing.abort();
    this.slots.stopConnecting();
    const { clock, logger } = this.ctx;
    const deadline = clock.now() + this.shutdownMs;
    // A broker that does not answer must not keep the process from exiting; what is not
    // settled by then goes back to the broker when the binder's connection closes.
    const drainMs = this.shutdownMs - closingShare(this.shutdownMs);
    if (!(await within(clock, this.handles.drainAll(), drainMs))) {
      logger.warn({ waitedMs: drainMs }, 'shutdown did not finish in-flight work in time; closing the binders anyway (what is unsettled goes back to the broker)');
    }
    for (const end of this.listenerEnds) end();
    this.listenerEnds.clear();
    if (!(await within(clock, this.slots.closeAll(), Math.max(0, deadline - clock.now())))) {
      logger.warn('closing the binders did not finish in time; leaving them');
    }
  }
}
