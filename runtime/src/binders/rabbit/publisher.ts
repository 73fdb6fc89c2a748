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
  pending: Set<(error?: Error) => void>;
  retired: boolean;
}

export class RabbitPublisher {
  private life?: Promise<ConfirmLife>;
  private readonly pending = new Set<(error?: Error) => void>();

  constructor(private readonly host: PublisherHost) {}

  /** Publishes on `connection`'s confirm channel and resolves once the broker confirmed. */
  async publish(connection: ChannelModel, exchange: string, routingKey: string, content: Buffer, properties: PublishProperties): Promise<void> {
    const opening = this.open(connection);
    let life: ConfirmLife;
    try {
      life = await opening;
    } catch (error) {
      throw this.host.unavailable('cannot open a publishing channel', error);
    }
    const { clock, confirmTimeout } = this.host.options;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        this.pending.delete(settle);
        life.pending.delete(settle);
        if (life.retired && life.pending.size === 0) void life.channel.close().catch(() => undefined);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = clock.setTimeout(() => settle(new ConfirmTimeoutError(`RabbitMQ did not confirm within ${confirmTimeout} ms`)), confirmTimeout);
      this.pending.add(settle);
      life.pending.add(settle);
      try {
        life.channel.publish(exchange, routingKey, content, properties, (error: unknown) => {
          // amqplib reports a nack as "message nacked" and a channel that closed first as
          // "channel closed": either way the message is not known to be stored.
          settle(error ? this.host.unavailable('RabbitMQ did not accept the message', error) : undefined);
        });
      } catch (error) {
        this.retire(life, opening);
        settle(new MessageNotEncodableError(this.host.unavailable('cannot encode the message', error).message));
      }
    });
  }

  /** Every message waiting for a confirm fails with `error` (the connection is gone). */
  failAll(error: Error): void {
    for (const settle of [...this.pending]) settle(error);
  }

  /** The connection is gone: the next publish opens a channel on the next one. */
  reset(): void {
    this.life = undefined;
  }

  private open(connection: ChannelModel): Promise<ConfirmLife> {
    if (this.life === undefined) {
      const opening = connection.createConfirmChannel().then((channel): ConfirmLife => ({ channel, pending: new Set(), retired: false }));
      this.life = opening;
      const forget = (): void => {
        if (this.life === opening) this.life = undefined;
      };
      opening.then((life) => {
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

  private retire(life: ConfirmLife, opening: Promise<ConfirmLife>): void {
    if (life.retired) return;
    life.retired = true;
    if (this.life === opening) this.life = undefined;
    this.host.log('warn', {}, 'a message could not be encoded; its publishing channel is retired so that confirms stay matched');
  }
}
