/**
 * Deliveries from the rabbit binder: ack, requeue and dead-letter as SCSt does them, each
 * settling once; prefetch is the binding's concurrency; pause and resume.
 */
import { describe, expect, it } from 'vitest';
import type { Binder, Delivery } from '../../../runtime/src/binders/binder.ts';
import {
  collector, inputBinding, management, message, outputBinding, rabbitBinder, type RawRabbit, uniqueDestination, waitFor, withConnectedRabbit,
} from './support.ts';

let binder: Binder;
let raw: RawRabbit;
const cleanup = withConnectedRabbit((connected, client) => {
  binder = connected;
  raw = client;
});

function groupDestination(prefix: string): string {
  const destination = uniqueDestination(prefix);
  cleanup.exchanges.push(destination);
  cleanup.queues.push(`${destination}.g`, `${destination}.g.dlq`);
  return destination;
}

const queueDepth = async (queue: string) => {
  const reply = await raw.channel.checkQueue(queue);
  return reply.messageCount;
};

describe('rabbit binder deliveries', () => {
  it('delivers the message with its id, payload, content type, headers and attempt 1', async () => {
    const destination = groupDestination('dlv-fields');
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, 'g'), received.handler);
    const producer = await binder.createProducer(outputBinding(destination));
    await producer.send(message('m-1', { n: 1 }, { headers: { tenant: 'acme' } }));

    await waitFor('the message', () => received.received.length === 1);
    const [delivery] = received.received;
    expect(delivery).toMatchObject({ id: 'm-1', contentType: 'application/json', headers: { tenant: 'acme' }, attempt: 1 });
    expect(JSON.parse(delivery!.payload.toString())).toEqual({ n: 1 });
    await consumer.close();
  });

  it('requeue gives the message back with its attempt counted up; a second settle is a no-op', async () => {
    const destination = groupDestination('dlv-requeue');
    const seen: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, 'g'), (delivery) => {
      seen.push(delivery);
      if (seen.length < 3) {
        void delivery.requeue().then(() => delivery.ack());
      } else {
        void delivery.ack().then(() => delivery.requeue());
      }
    });
    const producer = await binder.createProducer(outputBinding(destination));
    await producer.send(message('again'));

    await waitFor('two redeliveries', () => seen.length === 3);
    expect(seen.map((d) => [d.id, d.attempt])).toEqual([['again', 1], ['again', 2], ['again', 3]]);
    await consumer.close();
    // Acked once, then the requeue was ignored: nothing is left in the queue.
    expect(await queueDepth(`${destination}.g`)).toBe(0);
    expect(seen).toHaveLength(3);
  });

  it('deadLetter republishes to DLX with the SCSt headers and acks the original', async () => {
    const destination = groupDestination('dlv-dlq');
    const settled: Promise<void>[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, 'g', { deadLetter: true }), (delivery) => {
      settled.push(delivery.deadLetter('push to the app failed: HTTP 500').then(() => delivery.ack()));
    });
    const producer = await binder.createProducer(outputBinding(destination));
    await producer.send(message('poison', { bad: true }, { headers: { tenant: 'acme' } }));

    const dead = await raw.getOne(`${destination}.g.dlq`);
    expect(JSON.parse(dead.content.toString())).toEqual({ bad: true });
    expect(dead.fields).toMatchObject({ exchange: 'DLX', routingKey: `${destination}.g` });
    expect(dead.properties).toMatchObject({
      deliveryMode: 2,
      contentType: 'application/json',
      messageId: 'poison',
      headers: {
        tenant: 'acme',
        'x-exception-message': 'push to the app failed: HTTP 500',
        'x-original-exchange': destination,
        'x-original-routingKey': destination,
      },
    });
    // The DLQ can hold the copy a moment before its confirm reaches the binder, which acks then.
    await Promise.all(settled);
    await consumer.close();
    expect(await queueDepth(`${destination}.g`)).toBe(0);
  });

  it('deadLetter with deadLetter: false acks and drops the message', async () => {
    const destination = uniqueDestination('dlv-drop');
    cleanup.exchanges.push(destination);
    cleanup.queues.push(`${destination}.g`);
    const settled: Promise<void>[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, 'g', { deadLetter: false }), (delivery) => {
      settled.push(delivery.deadLetter('rejected by the app'));
    });
    const producer = await binder.createProducer(outputBinding(destination));
    await producer.send(message('dropped'));

    await waitFor('the delivery', () => settled.length === 1);
    await settled[0];
    await consumer.close();
    expect(await queueDepth(`${destination}.g`)).toBe(0);
    expect(await management.queue(`${destination}.g.dlq`)).toBeUndefined();
  });

  it('holds at most consumer.concurrency unsettled deliveries', async () => {
    const destination = groupDestination('dlv-prefetch');
    const producer = await binder.createProducer(outputBinding(destination, { requiredGroups: ['g'] }));
    for (let i = 0; i < 5; i++) await producer.send(message(`m-${i}`));
    const held = collector(() => undefined);
    const consumer = await binder.createConsumer(inputBinding(destination, 'g', { concurrency: 2 }), held.handler);

    await waitFor('two deliveries', () => held.received.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(held.received).toHaveLength(2);
    await held.received[0]!.ack();
    await waitFor('a third delivery once one is acked', () => held.received.length === 3);
    await consumer.close();
  });

  it('acks settled in one turn around a delivery still out leave exactly that one unacked', async () => {
    const destination = groupDestination('dlv-multi-ack');
    const producer = await binder.createProducer(outputBinding(destination, { requiredGroups: ['g'] }));
    const ids = Array.from({ length: 8 }, (_, i) => `m-${i}`);
    for (const id of ids) await producer.send(message(id));
    const held = collector(() => undefined);
    const consumer = await binder.createConsumer(inputBinding(destination, 'g', { concurrency: 8 }), held.handler);
    await waitFor('eight deliveries', () => held.received.length === 8);

    // Acked in one turn: m-0..m-2 before the one left out (one multiple ack), m-4..m-7 after it.
    const slow = held.received.find((d) => d.id === 'm-3')!;
    await Promise.all(held.received.filter((d) => d !== slow).map((d) => d.ack()));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Closing hands back what is unsettled on the broker: only m-3 may come back.
    await consumer.close();
    await waitFor('the unacked one back in the queue', async () => (await queueDepth(`${destination}.g`)) === 1);
    const back = await raw.channel.get(`${destination}.g`, { noAck: true });
    expect(back && back.properties.messageId).toBe('m-3');
  });

  it('pause stops new deliveries; resume brings them; close hands unsettled ones back', async () => {
    const destination = groupDestination('dlv-pause');
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, 'g'), received.handler);
    const producer = await binder.createProducer(outputBinding(destination));
    await consumer.pause();
    await producer.send(message('while-paused'));
    await waitFor('the message to wait in the queue', async () => (await queueDepth(`${destination}.g`)) === 1);
    expect(received.received).toHaveLength(0);

    await consumer.resume();
    await waitFor('the message after resume', () => received.received.length === 1);

    const unsettled = collector(() => undefined);
    const second = await binder.createConsumer(inputBinding(destination, 'g'), unsettled.handler);
    await consumer.close();
    await producer.send(message('kept'));
    await waitFor('a delivery left unsettled', () => unsettled.received.length === 1);
    await second.close();
    expect(await queueDepth(`${destination}.g`)).toBe(1);
  });

  it('an anonymous consumer paused and resumed gets what is sent afterwards', async () => {
    const destination = uniqueDestination('dlv-anon');
    cleanup.exchanges.push(destination);
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, undefined), received.handler);
    const producer = await binder.createProducer(outputBinding(destination));
    await consumer.pause();
    await consumer.resume();
    await producer.send(message('after-resume'));
    await waitFor('the message', () => received.received.length === 1);
    expect(received.ids()).toEqual(['after-resume']);
    await consumer.close();
  });

  it('reports the messages waiting in its queue as the binding\'s consumer lag', async () => {
    const destination = groupDestination('dlv-lag');
    const lags: [string, number, number][] = [];
    const reporting = rabbitBinder({ lagInterval: 50 }, undefined, { onConsumerLag: (...report) => lags.push(report) });
    await reporting.connect();
    try {
      const producer = await reporting.createProducer(outputBinding(destination, { requiredGroups: ['g'] }));
      for (let i = 0; i < 4; i++) await producer.send(message(`m-${i}`));
      const held = collector(() => undefined);
      await reporting.createConsumer(inputBinding(destination, 'g', { concurrency: 1 }), held.handler);
      // One message is out with the consumer, unacked; three wait.
      await waitFor('a lag of 3', () => lags.some(([, , lag]) => lag === 3));
      expect(lags.at(-1)).toEqual(['input', 0, 3]);
      await held.received[0]!.ack();
      await waitFor('the lag to drop to 2 once one is acked', () => lags.at(-1)?.[2] === 2);
    } finally {
      await reporting.close();
    }
  });
});
