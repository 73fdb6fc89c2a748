/**
 * The consumer channel's acks gathered per turn: which frames go to the channel for which
 * settles. A recording stand-in for the channel; the real broker's side is in
 * test/integration/rabbit/delivery.test.ts.
 */
import type { Channel, Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckBatcher } from '../../../../../runtime/src/binders/rabbit/acks.ts';

function recordingChannel(): { channel: Channel; frames: string[] } {
  const frames: string[] = [];
  const tag = (message: Message): number => message.fields.deliveryTag;
  const channel = {
    ack: (message: Message, multiple = false) => frames.push(`ack ${tag(message)}${multiple ? ' multiple' : ''}`),
    nack: (message: Message, _multiple: boolean, requeue: boolean) => frames.push(`nack ${tag(message)}${requeue ? ' requeue' : ''}`),
  } as unknown as Channel;
  return { channel, frames };
}

const delivered = (tag: number): Message => ({ fields: { deliveryTag: tag } }) as unknown as Message;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('AckBatcher', () => {
  it('acks a run of deliveries settled in one turn with one multiple ack', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    const messages = [1, 2, 3, 4].map(delivered);
    for (const m of messages) acks.track(m);
    for (const m of messages) acks.ack(m);
    expect(frames).toEqual([]);
    await turn();
    expect(frames).toEqual(['ack 4 multiple']);
  });

  it('acks alone what is behind a delivery still out, and never covers that one', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    const messages = [1, 2, 3, 4, 5].map(delivered);
    for (const m of messages) acks.track(m);
    for (const m of [messages[0]!, messages[1]!, messages[3]!, messages[4]!]) acks.ack(m);
    await turn();
    expect(frames).toEqual(['ack 2 multiple', 'ack 4', 'ack 5']);
    // Once the slow one is acked, it goes alone: 4 and 5 are settled already.
    acks.ack(messages[2]!);
    await turn();
    expect(frames.slice(3)).toEqual(['ack 3 multiple']);
  });

  it('sends nacks at once and lets a multiple ack pass over them', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    const messages = [1, 2, 3].map(delivered);
    for (const m of messages) acks.track(m);
    acks.ack(messages[0]!);
    acks.nack(messages[1]!, true);
    acks.ack(messages[2]!);
    expect(frames).toEqual(['nack 2 requeue']);
    await turn();
    expect(frames).toEqual(['nack 2 requeue', 'ack 3 multiple']);
  });

  it('settles each delivery once: a second ack or a nack after an ack sends nothing', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    const m = delivered(1);
    acks.track(m);
    acks.ack(m);
    acks.ack(m);
    acks.nack(m, true);
    await turn();
    expect(frames).toEqual(['ack 1 multiple']);
  });

  it('sends what was acked this turn when closed, and nothing afterwards', async () => {
    const { channel, frames } = recordingChannel();
    const acks = new AckBatcher(channel);
    const [first, second] = [1, 2].map(delivered);
    acks.track(first!);
    acks.track(second!);
    acks.ack(first!);
    acks.close();
    expect(frames).toEqual(['ack 1 multiple']);
    acks.ack(second!);
    await turn();
    expect(frames).toEqual(['ack 1 multiple']);
  });
});
