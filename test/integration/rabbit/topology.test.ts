/**
 * The rabbit binder declares SCSt's exact topology (SPEC section 2), read back through the
 * management API: names, types, durability, exclusivity, arguments and bindings.
 */
import { describe, expect, it } from 'vitest';
import { TopologyRefusedError, type Binder } from '../../../runtime/src/binders/binder.ts';
import {
  collector, inputBinding, management, message, outputBinding, type RawRabbit, uniqueDestination, waitFor, withConnectedRabbit,
} from './support.ts';

let binder: Binder;
let raw: RawRabbit;
const cleanup = withConnectedRabbit((connected, client) => {
  binder = connected;
  raw = client;
});

function track(destination: string, queues: string[]): void {
  cleanup.exchanges.push(destination);
  cleanup.queues.push(...queues);
}

describe('rabbit binder topology', () => {
  it('declares a group input as Spring Cloud Stream does by default: durable topic exchange, durable group queue bound with #, no arguments, no DLQ', async () => {
    const destination = uniqueDestination('topo-default');
    track(destination, [`${destination}.audit`]);
    const consumer = await binder.createConsumer(inputBinding(destination, 'audit'), collector().handler);

    expect(await management.exchange(destination)).toMatchObject({ name: destination, type: 'topic', durable: true, auto_delete: false });
    expect(await management.queue(`${destination}.audit`)).toMatchObject({ durable: true, exclusive: false, auto_delete: false, arguments: {} });
    expect(await management.bindingsOf(`${destination}.audit`)).toEqual([{ exchange: destination, routingKey: '#' }]);
    expect(await management.queue(`${destination}.audit.dlq`)).toBeUndefined();
    await consumer.close();
  });

  it('declares a group input with deadLetter: durable group queue bound with #, DLX and DLQ', async () => {
    const destination = uniqueDestination('topo-group');
    track(destination, [`${destination}.audit`, `${destination}.audit.dlq`]);
    const consumer = await binder.createConsumer(inputBinding(destination, 'audit', { deadLetter: true }), collector().handler);

    expect(await management.exchange(destination)).toMatchObject({ name: destination, type: 'topic', durable: true, auto_delete: false });
    expect(await management.exchange('DLX')).toMatchObject({ type: 'direct', durable: true, auto_delete: false });
    expect(await management.queue(`${destination}.audit`)).toMatchObject({
      durable: true, exclusive: false, auto_delete: false,
      arguments: { 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': `${destination}.audit` },
    });
    expect(await management.bindingsOf(`${destination}.audit`)).toEqual([{ exchange: destination, routingKey: '#' }]);
    expect(await management.queue(`${destination}.audit.dlq`)).toMatchObject({ durable: true, exclusive: false, auto_delete: false, arguments: {} });
    expect(await management.bindingsOf(`${destination}.audit.dlq`)).toEqual([{ exchange: 'DLX', routingKey: `${destination}.audit` }]);
    await consumer.close();
  });

  it('declares an anonymous input as a non-durable, exclusive, auto-delete queue that goes away with its consumer', async () => {
    const destination = uniqueDestination('topo-anon');
    track(destination, []);
    const consumer = await binder.createConsumer(inputBinding(destination, undefined), collector().handler);

    const queues = await management.queuesNamed(`${destination}.`);
    expect(queues.map((q) => q.name)).toEqual([expect.stringMatching(new RegExp(`^${destination}\\.anonymous\\.[A-Za-z0-9_-]{22}$`))]);
    const name = queues[0]!.name;
    expect(await management.queue(name)).toMatchObject({ durable: false, exclusive: true, auto_delete: true, arguments: {} });
    expect(await management.bindingsOf(name)).toEqual([{ exchange: destination, routingKey: '#' }]);

    await consumer.close();
    await waitFor('the anonymous queue to be deleted', async () => (await management.queue(name)) === undefined);
  });

  it('declares required groups from the producer as a default consumer does, so messages sent before any consumer wait for it', async () => {
    const destination = uniqueDestination('topo-required');
    track(destination, [`${destination}.audit`]);
    const producer = await binder.createProducer(outputBinding(destination, { requiredGroups: ['audit'] }));

    expect(await management.queue(`${destination}.audit`)).toMatchObject({ durable: true, arguments: {} });
    expect(await management.queue(`${destination}.audit.dlq`)).toBeUndefined();
    expect(await management.bindingsOf(`${destination}.audit`)).toEqual([{ exchange: destination, routingKey: '#' }]);
    await producer.send(message('early-1'));
    await producer.send(message('early-2'));

    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, 'audit'), received.handler);
    await waitFor('the two early messages', () => received.received.length === 2);
    expect(received.ids().sort()).toEqual(['early-1', 'early-2']);
    await consumer.close();
    await producer.close();
  });

  it('declares partition queues bound with <destination>-<n>, and each instance consumes its own partition', async () => {
    const destination = uniqueDestination('topo-part');
    const queues = [`${destination}.audit-0`, `${destination}.audit-1`];
    track(destination, [...queues, `${destination}.audit.dlq`]);
    const producer = await binder.createProducer(outputBinding(destination, { partitionCount: 2, requiredGroups: ['audit'], deadLetter: true }));

    for (const [n, queue] of queues.entries()) {
      expect(await management.queue(queue)).toMatchObject({
        durable: true, arguments: { 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': queue },
      });
      expect(await management.bindingsOf(queue)).toEqual([{ exchange: destination, routingKey: `${destination}-${n}` }]);
    }
    expect((await management.bindingsOf(`${destination}.audit.dlq`)).sort((a, b) => a.routingKey.localeCompare(b.routingKey)))
      .toEqual(queues.map((queue) => ({ exchange: 'DLX', routingKey: queue })));

    const instances = [collector(), collector()];
    const consumers = await Promise.all(instances.map((c, index) => binder.createConsumer(
      inputBinding(destination, 'audit', { partitioned: true, instanceIndex: index, instanceCount: 2, deadLetter: true }), c.handler)));
    expect(await producer.send(message('p1-a', {}, { partition: 1 }))).toEqual({ partition: 1 });
    await producer.send(message('p0-a', {}, { partition: 0 }));
    await producer.send(message('p1-b', {}, { partition: 1 }));

    await waitFor('each partition at its instance', () => instances[0]!.received.length === 1 && instances[1]!.received.length === 2);
    expect(instances[0]!.received.map((d) => [d.id, d.partition])).toEqual([['p0-a', 0]]);
    expect(instances[1]!.received.map((d) => [d.id, d.partition])).toEqual([['p1-a', 1], ['p1-b', 1]]);
    await Promise.all(consumers.map((c) => c.close()));
    await producer.close();
  });

  it('refuses a group queue that exists with other arguments, naming the argument and both values', async () => {
    const destination = uniqueDestination('topo-conflict');
    track(destination, [`${destination}.audit`]);
    await raw.channel.assertQueue(`${destination}.audit`, { durable: true, arguments: { 'x-max-length': 5 } });

    const refused = binder.createConsumer(inputBinding(destination, 'audit'), collector().handler);
    await expect(refused).rejects.toThrow(TopologyRefusedError);
    await expect(refused).rejects.toThrow(`queue '${destination}.audit': it exists with x-max-length = 5, this binding declares x-max-length = none (PRECONDITION_FAILED`);
    expect(binder.state).toBe('up');
  });
});
