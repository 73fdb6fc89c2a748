/**
 * Batch push (`consumer.batchSize` > 1): the messages that arrived together go to the app in one
 * POST, `application/x-ndjson`, one message per line in the SSE event's shape, the same lines a
 * bulk send takes turned around (docs/adr/0040-batch-push-as-ndjson.md). The app answers for
 * each message: a `{"results": [{"statusCode": n}, ...]}` list in line order, or any 2xx
 * without one for all of them. Each message then settles as a single push would: acked, retried
 * with back-off (only the failed ones, in a smaller batch), or dead-lettered.
 *
 * Ordering: the messages of a partition (a Kafka partition, a partitioned RabbitMQ queue) form
 * one lane that never has two batches in flight, and its batch holds the lane through its
 * retries, as a single push holds it. Unpartitioned messages share one lane that may have up to
 * `concurrency` batches out at once, as unordered single pushes may.
 *
 * Fullness: a batch smaller than `batchSize` leaves only when no batch of its lane is out, as
 * Nagle's algorithm sends a small segment only when nothing is unacknowledged; otherwise it
 * fills up until it is full or the lane's batches are answered. Sending whatever waited each
 * time a slot freed made every batch as short as the broker's refill after the last answer,
 * and kept them that short (docs/adr/0058-short-batches-wait-for-the-batches-out.md).
 */
import type { BaseLogger } from 'pino';
import type { BindingConfig } from '../config/model.ts';
import type { Delivery, InboundMessage } from '../binders/binder.ts';
import { retryDelay } from '../../../time/retry.ts';
import { sleep, type Clock } from '../../../time/clock.ts';
import { deliveryRetryPolicy } from './backoff.ts';
import { acknowledge, attemptsLeft, giveUp, type OutcomeObserver } from './settle.ts';
import { batchLine } from './listeners.ts';
import { appPool, classifyStatus, post, pushFailed, type PushResult } from './push.ts';

export const BATCH_CONTENT_TYPE = 'application/x-ndjson';

/** Sends one attempt of a batch to the app; resolves with one result per message, in order. */
export type BatchTransport = (messages: readonly InboundMessage[]) => Promise<PushResult[]>;

/** The lane of the messages without a partition: unordered, so several of its batches may be out. */
const UNORDERED = -1;

interface Entry {
  delivery: Delivery;
  attempt: number;
}

export class BatchPushDispatcher {
  /** Messages not pushed yet, per lane (partition), in arrival order. */
  private readonly waiting = new Map<number, Delivery[]>();
  /** Ordered lanes with a batch out. */
  private readonly busy = new Set<number>();
  /** Batches of the unordered lane out. */
  private unorderedOut = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private flushing = false;
  private nextLane = 0;

  constructor(
    private readonly binding: BindingConfig,
    private readonly transport: BatchTransport,
    private readonly clock: Clock,
    private readonly observe: OutcomeObserver,
    private readonly logger: BaseLogger,
  ) {}

  /** The binder's delivery handler. */
  readonly handle = (delivery: Delivery): void => {
    if (this.stopping.signal.aborted) {
      // Handed out as the consumer paused: the broker gets it back for whoever consumes next.
      delivery.requeue().catch(() => undefined);
      return;
    }
    const lane = delivery.partition ?? UNORDERED;
    const queue = this.waiting.get(lane);
    if (queue === undefined) this.waiting.set(lane, [delivery]);
    else queue.push(delivery);
    if (this.flushing) return;
    // Messages a binder hands out in one go (a socket read's worth, a fetched partition's
    // records) arrive in the same turn of the event loop: waiting for its end gathers them
    // into one batch without adding a delay of its own.
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      this.flush();
    });
  };

  /** Batches out now, messages waiting. */
  get counts(): { batches: number; waiting: number } {
    let waiting = 0;
    for (const queue of this.waiting.values()) waiting += queue.length;
    return { batches: this.inflight.size, waiting };
  }

  /** Pushes what waits, while fewer than `concurrency` batches are out. */
  private flush(): void {
    const { concurrency, batchSize } = this.binding.consumer;
    while (!this.stopping.signal.aborted && this.inflight.size < concurrency) {
      const lane = this.readyLane();
      if (lane === undefined) return;
      const queue = this.waiting.get(lane)!;
      const batch = queue.splice(0, batchSize);
      if (queue.length === 0) this.waiting.delete(lane);
      if (lane !== UNORDERED) this.busy.add(lane);
      if (lane === UNORDERED) this.unorderedOut++;
      const run = this.deliver(batch.map((delivery) => ({ delivery, attempt: delivery.attempt })))
        .catch((error: unknown) => {
          this.logger.warn({ binding: this.binding.name, err: (error as Error)?.message ?? String(error) }, 'settling a pushed batch failed; the broker delivers what was not settled again');
        })
        .finally(() => {
          this.inflight.delete(run);
          this.busy.delete(lane);
          if (lane === UNORDERED) this.unorderedOut--;
          this.flush();
        });
      this.inflight.add(run);
    }
  }

  /**
   * The next lane with messages and no batch out (the unordered lane: a full batch, or none of
   * its batches out), round-robin so that no partition starves the others.
   */
  private readyLane(): number | undefined {
    const lanes = [...this.waiting.keys()];
    const { batchSize } = this.binding.consumer;
    for (let i = 0; i < lanes.length; i++) {
      const lane = lanes[(this.nextLane + i) % lanes.length]!;
      if (!this.busy.has(lane) && (lane !== UNORDERED || this.unorderedOut === 0 || this.waiting.get(lane)!.length >= batchSize)) {
        this.nextLane = (this.nextLane + i + 1) % lanes.length;
        return lane;
      }
    }
    return undefined;
  }

  private async deliver(entries: Entry[]): Promise<void> {
    const { consumer } = this.binding;
    for (let pending = entries; ;) {
      const started = this.clock.now();
      // A copy only for a retry, whose attempt is not the delivery's own: not one per message and attempt.
      const results = await this.transport(pending.map(({ delivery, attempt }) => (attempt === delivery.attempt ? delivery : { ...delivery, attempt })));
      const seconds = (this.clock.now() - started) / 1000;
      const again: Entry[] = [];
      // Acks side by side rather than one await after another (an ack only marks its message,
      // and the binder sends the batch's acks together); dead letters one by one, in order.
      const settling: Promise<void>[] = [];
      for (let index = 0; index < pending.length; index++) {
        const entry = pending[index]!;
        const result = results[index]!;
        if (!result.ok && result.retryable && attemptsLeft(consumer, entry.attempt)) {
          this.observe('retry', seconds);
          again.push({ delivery: entry.delivery, attempt: entry.attempt + 1 });
        } else if (result.ok) {
          settling.push(this.settle(entry, result, seconds));
        } else {
          await this.settle(entry, result, seconds);
        }
      }
      await Promise.all(settling);
      if (again.length === 0) return;
      const delay = retryDelay(deliveryRetryPolicy(consumer), Math.min(...again.map((entry) => entry.attempt - 1)));
      if (!(await sleep(this.clock, delay, this.stopping.signal))) {
        // Stopping during a back-off: the broker gets them back for someone else, first one at the head.
        await requeueAll(again.map((entry) => entry.delivery));
        return;
      }
      pending = again;
    }
  }

  /** Acks or gives up one message; a failure to settle it leaves it with the broker, not the batch. */
  private async settle({ delivery, attempt }: Entry, result: PushResult, seconds: number): Promise<void> {
    try {
      if (result.ok) await acknowledge(delivery, this.observe, seconds);
      else await giveUp(delivery, this.binding.consumer, `${result.reason} (attempt ${attempt} of ${this.binding.consumer.maxAttempts})`, this.observe, seconds);
    } catch (error) {
      this.logger.warn({ binding: this.binding.name, messageId: delivery.id, err: (error as Error)?.message ?? String(error) }, 'settling a pushed message failed; the broker delivers it again');
    }
  }

  /** Lets batches out finish, returns what waits or waits for a retry, and resolves when all are settled. */
  async stop(): Promise<void> {
    this.stopping.abort();
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    await Promise.allSettled([...waiting.map(requeueAll), ...this.inflight]);
  }
}

/** Requeued last to first: a binder that puts a requeued message at its partition's head keeps their order. */
async function requeueAll(deliveries: Delivery[]): Promise<void> {
  for (const delivery of [...deliveries].reverse()) await delivery.requeue().catch(() => undefined);
}

/**
 * The batch's body: one SSE-shaped line per message, each with the attempt it is on, as bytes:
 * a JSON payload goes in as it arrived rather than decoded into a string and encoded again.
 */
export function batchBody(messages: readonly InboundMessage[]): Buffer {
  return Buffer.concat(messages.map(batchLine));
}

/**
 * What the app's answer says of each of `count` messages. A status outside 2xx is every
 * message's (as for a single push); a 2xx JSON answer with `results` gives each its own status,
 * in line order; any other 2xx acks them all. A `results` list that does not fit the batch is a
 * failed attempt for all: guessing which message it meant could ack one that was not handled.
 */
export function batchResults(status: number, contentType: string | undefined, body: string, count: number): PushResult[] {
  const all = (result: PushResult): PushResult[] => Array.from({ length: count }, () => result);
  const whole = classifyStatus(status);
  if (!whole.ok || contentType === undefined || !/^application\/([\w.+-]*\+)?json\b/i.test(contentType.trim()) || body.trim() === '') return all(whole);
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    return all(unreadable('is not JSON'));
  }
  if (typeof answer !== 'object' || answer === null || !('results' in answer)) return all(whole);
  const results = (answer as { results: unknown }).results;
  if (!Array.isArray(results)) return all(unreadable('has "results" that is not a list'));
  if (results.length !== count) return all(unreadable(`lists ${results.length} results for ${count} messages`));
  const statuses: number[] = [];
  for (const [index, result] of results.entries()) {
    const code = (result as { statusCode?: unknown } | null)?.statusCode;
    if (!Number.isInteger(code) || (code as number) < 100 || (code as number) > 599) {
      return all(unreadable(`has no statusCode (100-599) in result ${index + 1}`));
    }
    statuses.push(code as number);
  }
  return statuses.map((code) => {
    const result = classifyStatus(code);
    return result.ok ? result : { ...result, reason: `the app answered ${code} for this message of the batch` };
  });
}

function unreadable(what: string): PushResult {
  return { ok: false, retryable: true, reason: `the app's answer to a batch ${what}` };
}

/** The real transport: one POST per batch on the binding's pool. */
export function httpBatchTransport(
  binding: BindingConfig,
  app: { host: string; port: number },
): { transport: BatchTransport; close: () => Promise<void> } {
  const { pool, origin, path } = appPool(binding, app);
  const transport: BatchTransport = async (messages) => {
    try {
      const headers = { 'content-type': BATCH_CONTENT_TYPE, 'x-bindery-batch-size': String(messages.length) };
      const answer = await post(pool, path, batchBody(messages), headers, true);
      return batchResults(answer.statusCode, answer.contentType, answer.body, messages.length);
    } catch (error) {
      const failed = pushFailed(origin + path, error);
      return messages.map(() => failed);
    }
  };
  return { transport, close: () => pool.close() };
}
