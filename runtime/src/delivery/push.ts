/**
 * Push delivery: each message of an input binding is POSTed to the app, retried in the
 * sidecar with exponential back-off (as Spring Cloud Stream's RetryTemplate does in the
 * consumer), then dead-lettered. The broker keeps the message unacked meanwhile, so a crash
 * mid-retry loses nothing: the broker redelivers it.
 */
import { connect } from 'node:net';
import type { BaseLogger } from 'pino';
import { Pool } from 'undici';
import type { BindingConfig } from '../config/model.ts';
import type { Delivery, InboundMessage } from '../binders/binder.ts';
import { retryDelay } from '../../../time/retry.ts';
import { deliveryRetryPolicy } from './backoff.ts';
import { sleep, type Clock } from '../../../time/clock.ts';
import { acknowledge, attemptsLeft, giveUp, type OutcomeObserver } from './settle.ts';
import { HTTP_PREFIX, appHeaders, percentEncoded } from '../cloudevents/index.ts';
import { TRACEPARENT, TRACESTATE } from '../tracing/context.ts';

const TRACE_HEADERS = new Set([TRACEPARENT, TRACESTATE]);

export type PushResult = { ok: true } | { ok: false; retryable: boolean; reason: string };

/** Sends one attempt of a message to the app. */
export type PushTransport = (message: InboundMessage, attempt: number) => Promise<PushResult>;

/** Every 2xx answer's result: one object, not one per push. */
const OK: PushResult = Object.freeze({ ok: true });

/** 2xx acks; 5xx, 408 and 429 are worth retrying; anything else would fail again the same way. */
export function classifyStatus(status: number): PushResult {
  if (status >= 200 && status < 300) return OK;
  const retryable = status >= 500 || status === 408 || status === 429;
  return { ok: false, retryable, reason: `the app answered HTTP ${status}` };
}

export class PushDispatcher {
  /** Deliveries not settled yet; `stop` waits for them through `idle`. */
  private running = 0;
  private drained: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly binding: BindingConfig,
    private readonly transport: PushTransport,
    private readonly clock: Clock,
    private readonly observe: OutcomeObserver,
    private readonly logger: BaseLogger,
  ) {}

  /** The binder's delivery handler. */
  readonly handle = (delivery: Delivery): void => {
    this.running++;
    // One promise per delivery: a count and `deliver`'s own catch rather than a set of
    // promises with a catch and a finally each, which showed on push's allocation profile.
    void this.deliver(delivery).then(this.finished);
  };

  private readonly finished = (): void => {
    if (--this.running > 0 || this.drained === undefined) return;
    const { resolve } = this.drained;
    this.drained = undefined;
    resolve();
  };

  get inflightCount(): number {
    return this.running;
  }

  private async deliver(delivery: Delivery): Promise<void> {
    try {
      await this.attempts(delivery);
    } catch (error) {
      // Settling failed (the broker went away, a dead letter could not be published): the
      // broker still holds the message and delivers it again.
      this.logger.warn({ binding: this.binding.name, messageId: delivery.id, err: (error as Error)?.message ?? String(error) }, 'settling a pushed message failed; the broker delivers it again');
    }
  }

  private async attempts(delivery: Delivery): Promise<void> {
    const { consumer } = this.binding;
    for (let attempt = delivery.attempt; ; attempt++) {
      const started = this.clock.now();
      const result = await this.transport(delivery, attempt);
      const seconds = (this.clock.now() - started) / 1000;
      if (result.ok) return acknowledge(delivery, this.observe, seconds);
      if (!result.retryable || !attemptsLeft(consumer, attempt)) {
        return giveUp(delivery, consumer, `${result.reason} (attempt ${attempt} of ${consumer.maxAttempts})`, this.observe, seconds);
      }
      this.observe('retry', seconds);
      if (!(await sleep(this.clock, retryDelay(deliveryRetryPolicy(consumer), attempt), this.stopping.signal))) {
        // Stopping during a back-off: the broker gets the message back for someone else.
        return delivery.requeue();
      }
    }
  }

  /** Lets pushes in flight finish, returns messages waiting for a retry, and resolves when all are settled. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.running === 0) return;
    if (this.drained === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.drained = { promise, resolve };
    }
    await this.drained.promise;
  }
}

/** The app's origin and the binding's push path, with a keep-alive pool of `concurrency` connections to it. */
export function appPool(binding: BindingConfig, app: { host: string; port: number }): { pool: Pool; origin: string; path: string } {
  const origin = `http://${app.host.includes(':') ? `[${app.host}]` : app.host}:${app.port}`;
  const timeout = binding.consumer.pushTimeout;
  // Each phase of a push is bounded by pushTimeout through the pool's own timers (connect,
  // answer headers, answer body) rather than by a signal and timer made per message, which
  // showed on the profile. Never more pushes than connections are in flight, so none queues.
  // One request per connection at a time: a pipelined POST would wait behind a slow answer
  // and fail with it when the connection drops (docs/adr/0030-push-concurrency-and-connections.md).
  const pool = new Pool(origin, {
    connections: binding.consumer.concurrency, pipelining: 1, connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout,
  });
  return { pool, origin, path: binding.consumer.path ?? `/${binding.name}` };
}

/** The real transport: one POST per message on the binding's pool. */
export function httpTransport(
  binding: BindingConfig,
  app: { host: string; port: number },
): { transport: PushTransport; close: () => Promise<void> } {
  const { pool, origin, path } = appPool(binding, app);
  const transport: PushTransport = async (message, attempt) => {
    try {
      const answer = await post(pool, path, message.payload, pushHeaders(message, attempt), false);
      return classifyStatus(answer.statusCode);
    } catch (error) {
      return pushFailed(origin + path, error);
    }
  };
  return { transport, close: () => pool.close() };
}

/** What the app answered a push: its status, and for a batch its content type and body. */
export interface AppAnswer {
  statusCode: number;
  contentType: string | undefined;
  body: string;
}

/**
 * One POST on `pool` through undici's dispatch with a handler of its own rather than
 * `request()`, which makes a response stream, parses every answer header and layers promises
 * per push: those showed on push's profile, and a push needs the status alone (a batch also
 * its content type and body). The pool's timeouts bound it as they bound `request()`.
 */
export function post(pool: Pool, path: string, body: Buffer | string, headers: Record<string, string>, withBody: boolean): Promise<AppAnswer> {
  return new Promise((resolve, reject) => {
    pool.dispatch({ method: 'POST', path, body, headers }, new AnswerHandler(withBody, resolve, reject));
  });
}

/** undici's handler of one push: a class, so that a push makes one object rather than five closures. */
class AnswerHandler {
  private readonly answer: AppAnswer = { statusCode: 0, contentType: undefined, body: '' };
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly withBody: boolean,
    private readonly resolve: (answer: AppAnswer) => void,
    readonly onError: (error: Error) => void,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.answer.statusCode = statusCode;
    if (this.withBody) this.answer.contentType = headerValue(rawHeaders, 'content-type');
    return true;
  }

  onData(chunk: Buffer): boolean {
    // The body of a single push's answer is of no use; it is read (and dropped) so that the connection is reused.
    if (this.withBody) this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.withBody) this.answer.body = Buffer.concat(this.chunks).toString('utf8');
    this.resolve(this.answer);
  }
}

/** The first value of header `name` (lower case) in undici's raw `[name, value, ...]` list. */
function headerValue(rawHeaders: Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toString('latin1').toLowerCase() === name) return rawHeaders[i + 1]!.toString('latin1');
  }
  return undefined;
}

/** A push that got no answer (refused, reset, timed out): worth retrying. */
export function pushFailed(url: string, error: unknown): PushResult {
  return { ok: false, retryable: true, reason: `push to ${url} failed: ${describeError(error)}` };
}

export function pushHeaders(message: InboundMessage, attempt: number): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': message.contentType,
    'x-msg-id': message.id,
    'x-bindery-delivery-attempt': String(attempt),
  };
  for (const [name, value] of Object.entries(appHeaders(message.headers))) {
    // CloudEvents attributes and the trace context go as the standard headers they are.
    if (name.startsWith(HTTP_PREFIX)) {
      if (isHeaderSafe(name, '')) headers[name] = percentEncoded(value);
    } else if (isHeaderSafe(name, value)) headers[TRACE_HEADERS.has(name) ? name : `x-msg-${name.toLowerCase()}`] = value;
  }
  if (message.partition !== undefined) headers['x-bindery-partition'] = String(message.partition);
  return headers;
}

// Headers from other producers (e.g. a Spring app) may not fit HTTP; those are not forwarded.
function isHeaderSafe(name: string, value: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && !/[\r\n\0]/.test(value);
}

function describeError(error: unknown): string {
  const e = error as { code?: string; name?: string; message?: string };
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') return 'timed out';
  return e.code ?? e.message ?? String(error);
}

/** Resolves once the app accepts a connection on its port, or false when `stop` says to give up. */
export async function waitForApp(app: { host: string; port: number }, clock: Clock, stop: () => boolean, onWait: () => void): Promise<boolean> {
  for (let waited = false; !stop(); waited = true) {
    if (await accepts(app)) return true;
    if (!waited) onWait();
    await sleep(clock, 250);
  }
  return false;
}

function accepts(app: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: app.host, port: app.port });
    socket.setTimeout(1_000, () => { socket.destroy(); resolve(false); });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
