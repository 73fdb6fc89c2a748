/**
 * Publishing with publisher confirms on one confirm channel, shared by every output and by
 * dead-letter republishing. Each message's promise settles with its own confirm, its own
 * nack, the channel's loss, or the confirm timeout, and with nothing else.
 *
 * amqplib matches confirms to messages by position: it queues a message's callback before it
 * encodes the message, so a message that fails to encode leaves a callback that no delivery
 * tag will ever confirm, and the broker's next confirm would be taken for it (and every later
 * one for the message before its own). A channel where that happened is retired at once: the
 * messages published on it before are confirmed as theirs, new ones go to a fresh channel,
 * and it closes once nothing it carried is waiting any more.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { Clock } from '../../../../time/clock.ts';
import { BinderUnavailableError, ConfirmTimeoutError } from '../binder.ts';
import type { PublishProperties } from './messages.ts';

/** The client could not encode the message: it will never be published as it is. */
export class MessageNotEncodableError extends BinderUnavailableError {}

/** What the publisher needs of its binder. */
export interface PublisherHost {
  readonly name: string;
  readonly options: { clock: Clock; confirmTimeout: number };
  log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void;
  unavailable(what: string, error: unknown): BinderUnavailableError;
}

/** One confirm channel and the messages it carries that are not settled yet. */
interface ConfirmLife {
  channel: ConfirmChannel;
  pending: Set<Waiting>;
  retired: boolean;
}

/** A message waiting for its confirm. */
interface Waiting {
  /** When it times out, on the host's clock. */
  deadline: number;
  settle(error?: Error): void;
}

export class RabbitPublisher {
  private life?: Promise<ConfirmLife>;
  /** What `life` resolved to, while it is still the channel in use: a publish on it needs no await. */
  private current?: ConfirmLife;
  /**
   * Every message waiting for a confirm, in publish order. All wait the same confirmTimeout,
   * so this is deadline order too: one timer, armed for the oldest, times them all out
   * instead of a timer per message (ADR 0049).
   */
  private readonly waiting = new Set<Waiting>();
  private timer?: unknown;

  constructor(private readonly host: PublisherHost) {}

  /**
   * Publishes on `connection`'s confirm channel and resolves once the broker confirmed. Not
   * async: on an open channel the message is handed to amqplib before this returns.
   */
  publish(connection: ChannelModel, exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void> {
    const current = this.current;
    if (current !== undefined) return this.publishOn(current, exchange, routingKey, content, properties);
    return this.open(connection).then(
      (life) => this.publishOn(life, exchange, routingKey, content, properties),
      (error: unknown) => {
        throw this.host.unavailable('cannot open a publishing channel', error);
      },
    );
  }

  /** Every message waiting for a confirm fails with `error` (the connection is gone). */
  failAll(error: Error): void {
    for (const waiting of [...this.waiting]) waiting.settle(error);
    if (this.timer !== undefined) this.host.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The connection is gone: the next publish opens a channel on the next one. */
  reset(): void {
    this.life = undefined;
    this.current = undefined;
  }

  private publishOn(life: ConfirmLife, exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting: Waiting = {
        deadline: this.host.options.clock.now() + this.host.options.confirmTimeout,
        settle: (error?: Error): void => {
          if (!this.waiting.delete(waiting)) return;
          life.pending.delete(waiting);
          if (life.retired && life.pending.size === 0) void life.channel.close().catch(() => undefined);
          if (error === undefined) resolve();
          else reject(error);
        },
      };
      this.waiting.add(waiting);
      life.pending.add(waiting);
      this.timer ??= this.armFor(waiting);
      try {
        life.channel.publish(exchange, routingKey, content, properties, (error: unknown) => {
          // amqplib reports a nack as "message nacked" and a channel that closed first as
          // "channel closed": either way the message is not known to be stored.
          waiting.settle(error ? this.host.unavailable('RabbitMQ did not accept the message', error) : undefined);
        });
      } catch (error) {
        this.retire(life);
        waiting.settle(new MessageNotEncodableError(this.host.unavailable('cannot encode the message', error).message));
      }
    });
  }

  private armFor(oldest: Waiting): unknown {
    const { clock } = this.host.options;
    return clock.setTimeout(() => this.expire(oldest), Math.max(0, oldest.deadline - clock.now()));
  }

  /**
   * The timer armed for `due` fired: `due` (if it still waits) and every message past its
   * deadline time out, oldest first; the timer moves to the oldest one left. A confirm that
   * came in time removed its message already, so in the usual case this only re-arms.
   */
  private expire(due: Waiting): void {
    this.timer = undefined;
    const { clock, confirmTimeout } = this.host.options;
    const now = clock.now();
    for (const waiting of this.waiting) {
      if (waiting !== due && waiting.deadline > now) {
        this.timer = this.armFor(waiting);
        return;
      }
      waiting.settle(new ConfirmTimeoutError(`RabbitMQ did not confirm within ${confirmTimeout} ms`));
    }
  }

  private open(connection: ChannelModel): Promise<ConfirmLife> {
    if (this.life === undefined) {
      const opening = connection.createConfirmChannel().then((channel): ConfirmLife => ({ channel, pending: new Set(), retired: false }));
      this.life = opening;
      const forget = (): void => {
        if (this.life !== opening) return;
        this.life = undefined;
        this.current = undefined;
      };
      opening.then((life) => {
        if (this.life === opening) this.current = life;
        life.channel.on('error', (error: unknown) => {
          this.host.log('warn', { err: this.host.unavailable('publishing channel error', error).message }, 'RabbitMQ publishing channel closed');
        });
        // A channel error (a deleted exchange, say) closes only this channel: the next
        // send opens a new one.
        life.channel.on('close', forget);
      }, forget);
    }
    return this.life;
  }

  private retire(life: ConfirmLife): void {
    if (life.retired) return;
    life.retired = true;
    if (this.current === life) this.reset();
    this.host.log('warn', {}, 'a message could not be encoded; its publishing channel is retired so that confirms stay matched');
  }
}
