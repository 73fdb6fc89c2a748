import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { BinderUnavailableError, type Delivery } from '../../../../runtime/src/binders/binder.ts';
import { createMemoryBinder, type MemoryBinder } from '../../../../runtime/src/binders/memory/index.ts';
import { defaultConsumer, defaultProducer, type BindingConfig } from '../../../../runtime/src/config/model.ts';
import { settle } from '../../../support/fake-clock.ts';

const logger = pino({ level: 'silent' });

async function binder(): Promise<MemoryBinder> {
  const b = createMemoryBinder({ name: 'mem', type: 'memory' }, { logger });
  await b.connect();
  return b;
}

function input(group?: string, consumer: Partial<BindingConfig['consumer']> = {}): BindingConfig {
  return {
    name: 'input',
    direction: 'input',
    destination: 'orders',
    ...(group !== undefined && { group }),
    binder: 'mem',
    contentType: 'application/json',
    maxMessageBytes: 1024,
    producer: defaultProducer(),
    consumer: { ...defaultConsumer(), concurrency: 100, ...consumer },
  };
}

function output(producer: Partial<BindingConfig['producer']> = {}): BindingConfig {
  return { ...input(), name: 'output', direction: 'output', producer: { ...defaultProducer(), ...producer } };
}

/** Consumes with a handler that records ids and acks (unless told to hold). */
function recorder(hold = false) {
  const ids: string[] = [];
  const held: Delivery[] = [];
  const handler = (delivery: Delivery): void => {
    ids.push(`${delivery.id}#${delivery.attempt}`);
    if (hold) held.push(delivery);
    else void delivery.ack();
  };
  return { ids, held, handler };
}

async function sendAll(b: MemoryBinder, count: number, producer = output(), prefix = 'm') {
  const p = await b.createProducer(producer);
  for (let i = 1; i <= count; i++) await p.send({ id: `${prefix}${i}`, payload: Buffer.from('1'), contentType: 'application/json', headers: {} });
  await settle();
}

describe('memory binder', () => {
  it('gives every group every message (broadcast)', async () => {
    const b = await binder();
    const a = recorder();
    const c = recorder();
    await b.createConsumer(input('a'), a.handler);
    await b.createConsumer(input('c'), c.handler);
    await sendAll(b, 4);
    expect(a.ids).toEqual(['m1#1', 'm2#1', 'm3#1', 'm4#1']);
    expect(c.ids).toEqual(['m1#1', 'm2#1', 'm3#1', 'm4#1']);
  });

  it('shares a group between its members, none twice (competition)', async () => {
    const b = await binder();
    const one = recorder();
    const two = recorder();
    await b.createConsumer(input('g'), one.handler);
    await b.createConsumer(input('g'), two.handler);
    await sendAll(b, 6);
    expect(one.ids.length).toBeGreaterThan(0);
    expect(two.ids.length).toBeGreaterThan(0);
    expect([...one.ids, ...two.ids].sort()).toEqual(['m1#1', 'm2#1', 'm3#1', 'm4#1', 'm5#1', 'm6#1']);
  });

  it('keeps a group\'s messages while no member is up (durability)', async () => {
    const b = await binder();
    const first = await b.createConsumer(input('g'), recorder().handler);
    await first.close();
    await sendAll(b, 4);
    expect(b.queueDepth('orders.g')).toBe(4);
    const later = recorder();
    await b.createConsumer(input('g'), later.handler);
    await settle();
    expect(later.ids).toEqual(['m1#1', 'm2#1', 'm3#1', 'm4#1']);
  });

  it('sends an anonymous consumer nothing that was sent while it was down', async () => {
    const b = await binder();
    const before = recorder();
    const consumer = await b.createConsumer(input(), before.handler);
    await sendAll(b, 2, output(), 'up');
    await consumer.close();
    await sendAll(b, 4, output(), 'down');
    const after = recorder();
    await b.createConsumer(input(), after.handler);
    await settle();
    expect(before.ids).toEqual(['up1#1', 'up2#1']);
    expect(after.ids).toEqual([]);
  });

  it('declares requiredGroups when the producer is created', async () => {
    const b = await binder();
    await sendAll(b, 3, output({ requiredGroups: ['audit'] }));
    expect(b.queueDepth('orders.audit')).toBe(3);
  });

  it('redelivers a requeued message with attempt + 1, and returns unsettled ones on close', async () => {
    const b = await binder();
    const holder = recorder(true);
    const consumer = await b.createConsumer(input('g'), holder.handler);
    await sendAll(b, 1);
    await holder.held[0]!.requeue();
    await settle();
    expect(holder.ids).toEqual(['m1#1', 'm1#2']);
    await consumer.close();
    const next = recorder();
    await b.createConsumer(input('g'), next.handler);
    await settle();
    expect(next.ids).toEqual(['m1#3']);
  });

  it('settles a delivery once: later calls do nothing', async () => {
    const b = await binder();
    const holder = recorder(true);
    await b.createConsumer(input('g'), holder.handler);
    await sendAll(b, 1);
    await holder.held[0]!.ack();
    await holder.held[0]!.requeue();
    await holder.held[0]!.deadLetter('late');
    await settle();
    expect(holder.ids).toEqual(['m1#1']);
    expect(b.deadLetters('orders', 'g')).toEqual([]);
  });

  it.each([
    [true, 1],
    [false, 0],
  ])('dead letters land in <dest>.<group>.dlq with SCSt headers (deadLetter %s)', async (deadLetter, kept) => {
    const b = await binder();
    const holder = recorder(true);
    await b.createConsumer(input('g', { deadLetter }), holder.handler);
    await sendAll(b, 1);
    await holder.held[0]!.deadLetter('the app answered HTTP 400');
    const letters = b.deadLetters('orders', 'g');
    expect(letters).toHaveLength(kept);
    if (deadLetter) {
      expect(letters[0]!.headers).toEqual({
        'x-exception-message': 'the app answered HTTP 400',
        'x-original-exchange': 'orders',
        'x-original-routingKey': 'orders',
      });
    }
  });

  it('honours concurrency: no more than that many unsettled per member', async () => {
    const b = await binder();
    const holder = recorder(true);
    await b.createConsumer(input('g', { concurrency: 2 }), holder.handler);
    await sendAll(b, 5);
    expect(holder.ids).toHaveLength(2);
    await holder.held[0]!.ack();
    await settle();
    expect(holder.ids).toHaveLength(3);
  });

  it('pauses and resumes a member', async () => {
    const b = await binder();
    const r = recorder();
    const consumer = await b.createConsumer(input('g'), r.handler);
    await consumer.pause();
    await sendAll(b, 2);
    expect(r.ids).toEqual([]);
    await consumer.resume();
    await settle();
    expect(r.ids).toEqual(['m1#1', 'm2#1']);
  });

  it('routes partitions to the partition queue of the instance', async () => {
    const b = await binder();
    const zero = recorder();
    const one = recorder();
    const partitioned = { partitioned: true, instanceCount: 2 };
    await b.createConsumer(input('g', { ...partitioned, instanceIndex: 0 }), zero.handler);
    await b.createConsumer(input('g', { ...partitioned, instanceIndex: 1 }), one.handler);
    const p = await b.createProducer(output({ partitionCount: 2 }));
    for (const [id, partition] of [['a', 0], ['b', 1], ['c', 1]] as const) {
      await p.send({ id, payload: Buffer.from('1'), contentType: 'application/json', headers: {}, partition });
    }
    await settle();
    expect(zero.ids).toEqual(['a#1']);
    expect(one.ids).toEqual(['b#1', 'c#1']);
  });

  it('refuses sends while unreachable and delivers the backlog once reachable', async () => {
    const b = await binder();
    const states: string[] = [];
    b.onStateChange((s) => states.push(s));
    const r = recorder();
    await b.createConsumer(input('g'), r.handler);
    const p = await b.createProducer(output());
    b.setReachable(false);
    await expect(p.send({ id: 'x', payload: Buffer.from('1'), contentType: 'application/json', headers: {} })).rejects.toBeInstanceOf(BinderUnavailableError);
    b.setReachable(true);
    await sendAll(b, 1);
    expect(states).toEqual(['down', 'up']);
    expect(r.ids).toEqual(['m1#1']);
  });
});
