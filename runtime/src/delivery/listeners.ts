/**
 * Pull delivery over Server-Sent Events. The listeners of one binding compete: each message
 * goes to one of them, round-robin. With `ack=auto` a message is acked once written to the
 * stream; with `ack=manual` it waits for `/v1/ack` or `/v1/nack`, and goes back to the broker
 * when the listener disconnects or `ackTimeout` passes.
 */
import { isUtf8 } from 'node:buffer';
import type { BaseLogger } from 'pino';
import type { BindingConfig } from '../config/model.ts';
import type { Delivery, InboundMessage } from '../binders/binder.ts';
import type { Clock } from '../../../time/clock.ts';
import { appHeaders } from '../cloudevents/index.ts';
import { jsonSyntaxError } from '../sidecar/json-check.ts';
import { acknowledge, attemptsLeft, giveUp, undeliverable, type OutcomeObserver } from './settle.ts';

export type AckMode = 'auto' | 'manual';

/** One open SSE stream. */
export interface Listener {
  readonly mode: AckMode;
  /** Writes one event; the callback reports whether it reached the socket. */
  write(event: Buffer, done: (error?: Error | null) => void): void;
}

interface Pending {
  delivery: Delivery;
  listener: Listener;
  timer: unknown;
  started: number;
}

export class ListenerHub {
  private readonly listeners: Listener[] = [];
  private next = 0;
  /** Manual-ack deliveries written and not settled yet, by message id. */
  private readonly pending = new Map<string, Pending[]>();
  /**
   * Deliveries that arrived while no listener was connected (the consumer is being paused):
   * held for the next listener rather than bounced back to the broker, which would count
   * an attempt against them. The broker's prefetch bounds how many.
   */
  private readonly waiting: Delivery[] = [];
  private readonly countListeners: Set<(count: number) => void> = new Set();

  constructor(
    private binding: BindingConfig,
    private readonly clock: Clock,
    private readonly observe: OutcomeObserver,
    private readonly logger: BaseLogger,
  ) {}

  /** The binding moved or changed: listeners stay connected, new deliveries follow the new settings. */
  rebind(binding: BindingConfig): void {
    this.binding = binding;
  }

  get listenerCount(): number {
    return this.listeners.length;
  }

  get pendingCount(): number {
    let count = 0;
    for (const list of this.pending.values()) count += list.length;
    return count;
  }

  /** Called with the number of listeners whenever it changes (the runtime pauses the consumer at 0). */
  onListenerCount(callback: (count: number) => void): void {
    this.countListeners.add(callback);
  }

  add(listener: Listener): () => void {
    this.listeners.push(listener);
    this.emitCount();
    for (const delivery of this.waiting.splice(0)) this.handle(delivery);
    return () => this.remove(listener);
  }

  private remove(listener: Listener): void {
    const index = this.listeners.indexOf(listener);
    if (index < 0) return;
    this.listeners.splice(index, 1);
    // What the listener held unacked goes back to the broker for the others.
    for (const [id, list] of this.pending) {
      for (const entry of list.filter((p) => p.listener === listener)) {
        this.take(id, entry);
        this.background(entry.delivery.requeue());
      }
    }
    this.emitCount();
  }

  private emitCount(): void {
    for (const callback of this.countListeners) callback(this.listeners.length);
  }

  /** The binder's delivery handler. */
  readonly handle = (delivery: Delivery): void => {
    const listener = this.nextListener();
    if (!listener) {
      this.waiting.push(delivery);
      return;
    }
    let event: Buffer;
    try {
      event = formatEvent(delivery);
    } catch (error) {
      this.background(undeliverable(delivery, this.binding.consumer, error, this.observe, this.logger, this.binding.name));
      return;
    }
    const started = this.clock.now();
    if (listener.mode === 'manual') this.hold(delivery, listener, started);
    listener.write(event, (error) => {
      if (error) {
        // The stream is gone: the listener leaves (its manual deliveries go back with it),
        // so the next message is not offered to it again.
        this.remove(listener);
        if (listener.mode === 'auto') this.background(delivery.requeue());
        return;
      }
      if (listener.mode === 'auto') this.background(acknowledge(delivery, this.observe, (this.clock.now() - started) / 1000));
    });
  };

  /**
   * Settling that nobody awaits: when it fails (the broker went away mid-settle) the broker
   * still holds the message and delivers it again, so the failure is only logged.
   */
  private background(settling: Promise<unknown>): void {
    settling.catch((error: unknown) => {
      this.logger.warn({ binding: this.binding.name, err: (error as Error)?.message ?? String(error) }, 'settling a delivery failed; the broker delivers it again');
    });
  }

  private nextListener(): Listener | undefined {
    if (this.listeners.length === 0) return undefined;
    const listener = this.listeners[this.next % this.listeners.length];
    this.next = (this.next + 1) % this.listeners.length;
    return listener;
  }

  private hold(delivery: Delivery, listener: Listener, started: number): void {
    const entry: Pending = { delivery, listener, started, timer: undefined };
    entry.timer = this.clock.setTimeout(() => {
      if (this.take(delivery.id, entry)) this.background(this.fail(entry, `not acked within ackTimeout (${this.binding.consumer.ackTimeout} ms)`, true));
    }, this.binding.consumer.ackTimeout);
    const list = this.pending.get(delivery.id) ?? [];
    list.push(entry);
    this.pending.set(delivery.id, list);
  }

  /** Removes a pending entry; false when it was already settled. */
  private take(id: string, entry?: Pending): Pending | undefined {
    const list = this.pending.get(id);
    if (!list || list.length === 0) return undefined;
    const index = entry ? list.indexOf(entry) : 0;
    if (index < 0) return undefined;
    const [taken] = list.splice(index, 1);
    if (list.length === 0) this.pending.delete(id);
    this.clock.clearTimeout(taken!.timer);
    return taken;
  }

  /** `POST /v1/ack`: false when no delivery with this id awaits an ack. */
  async ack(id: string): Promise<boolean> {
    const entry = this.take(id);
    if (!entry) return false;
    await acknowledge(entry.delivery, this.observe, (this.clock.now() - entry.started) / 1000);
    return true;
  }

  /**
   * `POST /v1/nack`: the message is redelivered while attempts are left, else dead-lettered;
   * `requeue: false` dead-letters it at once.
   */
  async nack(id: string, requeue: boolean, reason?: string): Promise<boolean> {
    const entry = this.take(id);
    if (!entry) return false;
    await this.fail(entry, reason ?? 'nacked by the listener', requeue);
    return true;
  }

  private async fail(entry: Pending, reason: string, retry: boolean): Promise<void> {
    const { consumer } = this.binding;
    const seconds = (this.clock.now() - entry.started) / 1000;
    if (retry && attemptsLeft(consumer, entry.delivery.attempt)) {
      await entry.delivery.requeue();
      this.observe('retry', seconds);
      return;
    }
    await giveUp(entry.delivery, consumer, `${reason} (attempt ${entry.delivery.attempt} of ${consumer.maxAttempts})`, this.observe, seconds);
  }

  /** Gives every unsettled delivery back to the broker (shutdown, binder switch). */
  async stop(): Promise<void> {
    const entries = [...this.pending.entries()].flatMap(([id, list]) => list.map((entry) => ({ id, entry })));
    await Promise.allSettled([
      ...entries.map(({ id, entry }) => (this.take(id, entry) ? entry.delivery.requeue() : Promise.resolve())),
      ...this.waiting.splice(0).map((delivery) => delivery.requeue()),
    ]);
  }
}

/**
 * One SSE `message` event (SPEC section 5), as the bytes written to the stream. A JSON body
 * is copied in as bytes: decoded to a string, cleaned of line breaks and printed into the
 * event, a 1 MiB body made three or four strings of its size, each too large for the young
 * generation, so every delivery left megabytes of heap that only a full collection returns.
 */
export function formatEvent(message: InboundMessage): Buffer {
  return dataBytes(message, `id: ${message.id.replace(/[\r\n]/g, '')}\nevent: message\ndata: `, '\n\n');
}

/** A batch push's line for `message`: the event's data and a line feed, as bytes (docs/adr/0040-batch-push-as-ndjson.md). */
export function batchLine(message: InboundMessage): Buffer {
  return dataBytes(message, '', '\n');
}

/** `before`, the event's data on one line, then `after`; a JSON body copied in as its bytes. */
function dataBytes(message: InboundMessage, before: string, after: string): Buffer {
  const head = before + dataHead(message);
  const tail = dataTail(message) + after;
  if (!isJsonAsSent(message)) return Buffer.from(head + payloadJson(message) + tail);
  const { payload } = message;
  const start = Buffer.byteLength(head);
  const event = Buffer.allocUnsafe(start + payload.length + Buffer.byteLength(tail));
  event.write(head, 0);
  payload.copy(event, start);
  // Line breaks are only ever whitespace between a JSON text's tokens, and in UTF-8 these
  // bytes are never part of another character.
  for (const lineBreak of [LF, CR]) {
    for (let at = payload.indexOf(lineBreak); at >= 0; at = payload.indexOf(lineBreak, at + 1)) event[start + at] = SPACE;
  }
  event.write(tail, start + payload.length);
  return event;
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;

/** The event's data, `{"id","payload","contentType","headers","partition","attempt"}`, on one line (a batch push's line too). */
export function eventData(message: InboundMessage): string {
  return dataHead(message) + payloadJson(message) + dataTail(message);
}

function dataHead(message: InboundMessage): string {
  return `{"id":${JSON.stringify(message.id)},"payload":`;
}

function dataTail(message: InboundMessage): string {
  const rest = JSON.stringify({ contentType: message.contentType, headers: appHeaders(message.headers), partition: message.partition ?? null, attempt: message.attempt });
  return `,${rest.slice(1)}`;
}

/** A JSON body whose bytes are its text as JSON.parse reads it: valid UTF-8 and valid JSON. */
function isJsonAsSent(message: Pick<InboundMessage, 'payload' | 'contentType'>): boolean {
  return isJsonContentType(message.contentType) && isUtf8(message.payload) && jsonSyntaxError(message.payload) === undefined;
}

/**
 * The event's `payload` as JSON text: the JSON value for JSON, a string for text, base64
 * otherwise. A valid JSON body goes in as it was sent rather than parsed and printed again:
 * printing is recursive, and a body nested thousands of levels deep would overflow the stack
 * (the check is not). Line breaks, which may only be whitespace between its tokens, become
 * spaces, since an SSE data line cannot hold them.
 */
export function payloadJson(message: Pick<InboundMessage, 'payload' | 'contentType'>): string {
  const text = message.payload.toString(isJsonContentType(message.contentType) || isTextContentType(message.contentType) ? 'utf8' : 'base64');
  // A body that is not JSON after all (a producer that says otherwise) is shown as the text it is.
  if (isJsonContentType(message.contentType) && jsonSyntaxError(message.payload) === undefined) return text.replace(/[\r\n]/g, ' ');
  return JSON.stringify(text);
}

/**
 * A content type is JSON when its media type (what comes before the first `;`, trimmed, in
 * any case) is `application/json` or ends in `+json`. Anything else, a list of types or a
 * string that is no media type at all included, is not.
 */
export function isJsonContentType(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

export function isTextContentType(contentType: string): boolean {
  return contentType.trim().toLowerCase().startsWith('text/');
}
