/**
 * The acks of one consumer channel, gathered per turn of the event loop: when the deliveries
 * acked in a turn, together with those settled before, are every unsettled delivery up to a
 * tag, one `basic.ack` with `multiple` settles them all, instead of a frame (and a socket
 * write, which the profile of push showed as its largest cost) per message. An ack behind a
 * delivery still out (a slow push) goes alone at the end of the same turn: nothing waits on
 * another message, and nothing is acked that was not acked here
 * (docs/adr/0050-rabbit-acks-gathered-per-turn.md).
 *
 * Delivery tags are the channel's own sequence, so a multiple ack of tag n settles exactly the
 * deliveries before n that are still unsettled on the broker: those acked here this turn.
 * Nacks go at once; they only mark their delivery settled.
 */
import type { Channel, Message } from 'amqplib';

type State = 'out' | 'acked' | 'settled';

interface Tracked {
  message: Message;
  state: State;
}

export class AckBatcher {
  /** Deliveries in tag order, from the oldest not known to be settled on the broker. */
  private readonly window: Tracked[] = [];
  private head = 0;
  private readonly byTag = new Map<number, Tracked>();
  /** Acked this turn, not sent yet. */
  private acked: Tracked[] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly channel: Channel) {}

  /** Every delivery of the channel goes through here first, in the order the broker sent them. */
  track(message: Message): void {
    const entry: Tracked = { message, state: 'out' };
    this.window.push(entry);
    this.byTag.set(message.fields.deliveryTag, entry);
  }

  /** Acks `message` at the end of this turn, alone or with others. */
  ack(message: Message): void {
    const entry = this.byTag.get(message.fields.deliveryTag);
    if (entry === undefined || entry.state !== 'out' || this.closed) return;
    entry.state = 'acked';
    this.acked.push(entry);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Rejects `message` now (requeued or to the queue's dead-letter exchange). */
  nack(message: Message, requeue: boolean): void {
    const entry = this.byTag.get(message.fields.deliveryTag);
    if (entry === undefined || entry.state !== 'out' || this.closed) return;
    entry.state = 'settled';
    quietly(() => this.channel.nack(message, false, requeue));
  }

  /** Sends the acks of this turn: one multiple ack for the settled prefix, the rest one by one. */
  flush(): void {
    this.scheduled = false;
    if (this.acked.length === 0 || this.closed) return;
    let last: Tracked | undefined;
    while (this.head < this.window.length && this.window[this.head]!.state !== 'out') {
      const entry = this.window[this.head]!;
      if (entry.state === 'acked') last = entry;
      entry.state = 'settled';
      this.byTag.delete(entry.message.fields.deliveryTag);
      this.head++;
    }
    // Drop the settled prefix now and then rather than shifting on every ack.
    if (this.head > 1024 && this.head * 2 > this.window.length) {
      this.window.splice(0, this.head);
      this.head = 0;
    }
    if (last !== undefined) {
      const multiple = last;
      quietly(() => this.channel.ack(multiple.message, true));
    }
    for (const entry of this.acked) {
      if (entry.state !== 'acked') continue;
      entry.state = 'settled';
      quietly(() => this.channel.ack(entry.message));
    }
    this.acked = [];
  }

  /** The channel is closing or gone: what was acked this turn goes now, if it still can. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

/** amqplib throws when a channel closed between the check and the call; the broker redelivers then. */
function quietly(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone, and with it the delivery: nothing left to settle.
  }
}
