/**
 * The kafka binder on the real Kafka of the test environment: the seed behaviours by count,
 * SCSt's topology and headers, in-order commits, requeue, dead letters that do not block
 * their partition, a slow handler that keeps its group membership, and consumer lag.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Binder, Delivery } from '../../../runtime/src/binders/binder.ts';
import {
  collector, headerText, inputBinding, kafkaBinder, message, outputBinding, rawKafka, uniqueDestination, waitFor,
} from './support.ts';

let binder: Binder;
const raw = rawKafka();

beforeAll(async () => {
  binder = kafkaBinder();
  await binder.connect();
});

afterAll(async () => {
  await binder?.close();
  await raw.cleanup();
});

/** A unique destination; its groups are named `<destination>-<group>`, so no other test shares them. */
function topic(prefix: string, groups: string[] = []): string {
  const destination = uniqueDestination(`kb-${prefix}`);
  const groupNames = groups.map((g) => `${destination}-${g}`);
  raw.track({ topics: [destination, ...groupNames.map((g) => `error.${destination}.${g}`)], groups: groupNames });
  return destination;
}
const group = (destination: string, name = 'g') => `${destination}-${name}`;

const sendAll = async (destination: string, ids: string[]) => {
  const producer = await binder.createProducer(outputBinding(destination));
  await Promise.all(ids.map((id) => producer.send(message(id))));
  await producer.close();
};
const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const settleQuietly = () => new Promise((resolve) => setTimeout(resolve, 1_500));

describe('kafka binder: the seed behaviours', () => {
  it('broadcast: two groups each get every message', async () => {
    const destination = topic('broadcast', ['a', 'b']);
    const a = collector();
    const b = collector();
    const consumers = [
      await binder.createConsumer(inputBinding(destination, group(destination, 'a')), a.handler),
      await binder.createConsumer(inputBinding(destination, group(destination, 'b')), b.handler),
    ];
    await sendAll(destination, range('m', 10));
    await waitFor('both groups to get 10', () => a.received.length === 10 && b.received.length === 10);
    expect(a.ids().sort()).toEqual(range('m', 10).sort());
    expect(b.ids().sort()).toEqual(range('m', 10).sort());
    await Promise.all(consumers.map((c) => c.close()));
  });

  it('competition: two members of one group share the messages, none twice', async () => {
    const destination = topic('compete', ['g']);
    const one = collector();
    const two = collector();
    // Two partitions (concurrency 2), so that each member of the group has one.
    const consumers = [
      await binder.createConsumer(inputBinding(destination, group(destination), { concurrency: 2 }), one.handler),
      await binder.createConsumer(inputBinding(destination, group(destination), { concurrency: 2 }), two.handler),
    ];
    await waitFor('both members in the group', async () => {
      const groups = await (await raw.admin()).describeGroups([group(destination)]);
      return groups.groups[0]?.members.length === 2 && groups.groups[0].state === 'Stable';
    });
    await settleQuietly();
    await sendAll(destination, range('c', 20));
    await waitFor('all 20 between the two', () => one.received.length + two.received.length >= 20);
    await settleQuietly();
    expect(one.received.length).toBeGreaterThan(0);
    expect(two.received.length).toBeGreaterThan(0);
    expect([...one.ids(), ...two.ids()].sort()).toEqual(range('c', 20).sort());
    await Promise.all(consumers.map((c) => c.close()));
  });

  it('durable group: 4 sent while the group has no member are received when it comes back', async () => {
    const destination = topic('durable', ['g']);
    const first = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), first.handler);
    await sendAll(destination, ['before']);
    await waitFor('the first message', () => first.received.length === 1);
    await consumer.close();

    await sendAll(destination, range('while-down', 4));
    const again = collector();
    const back = await binder.createConsumer(inputBinding(destination, group(destination)), again.handler);
    await waitFor('the 4 sent while down', () => again.received.length >= 4);
    await settleQuietly();
    expect(again.ids().sort()).toEqual(range('while-down', 4));
    await back.close();
  });

  it('anonymous: 0 of the 4 sent while it was down; what is sent while it runs arrives', async () => {
    const destination = topic('anon');
    const first = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, undefined), first.handler);
    await sendAll(destination, ['before']);
    await waitFor('the first message', () => first.received.length === 1);
    await consumer.close();

    await sendAll(destination, range('while-down', 4));
    const anonymousGroups = async () =>
      (await (await raw.admin()).listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith('anonymous.')).sort();
    const groupsBefore = await anonymousGroups();
    const again = collector();
    const back = await binder.createConsumer(inputBinding(destination, undefined), again.handler);
    expect((await anonymousGroups()).length).toBe(groupsBefore.length + 1);
    await sendAll(destination, ['after']);
    await waitFor('the message sent after it started', () => again.received.length >= 1);
    await settleQuietly();
    expect(again.ids()).toEqual(['after']);
    await back.close();
    // Its group goes with it: anonymous groups do not pile up on the broker.
    expect(await anonymousGroups()).toEqual(groupsBefore);
  });
});

describe('kafka binder: records on the wire', () => {
  it('writes contentType raw, the id, user headers and, when partitioned, the partition and scst_partition', async () => {
    const destination = topic('wire');
    const producer = await binder.createProducer(outputBinding(destination, { partitionCount: 3 }));
    expect(await raw.partitions(destination)).toBe(3);
    const receipt = await producer.send(message('w-1', { a: 1 }, { partition: 2, headers: { tenant: 'acme' } }));
    expect(receipt).toEqual({ partition: 2 });
    await producer.close();
    const [record] = await raw.read(destination, 1);
    expect(record!.partition).toBe(2);
    expect(headerText(record!.headers, 'contentType')).toBe('application/json');
    expect(headerText(record!.headers, 'scst_partition')).toBe('2');
    expect(headerText(record!.headers, 'tenant')).toBe('acme');
    expect(headerText(record!.headers, 'bindery_messageId')).toBe('w-1');
    expect(JSON.parse(record!.value!.toString())).toEqual({ a: 1 });
  });

  it('reads a Spring record: JSON-quoted contentType, no id, user headers', async () => {
    const destination = topic('spring', ['g']);
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), received.handler);
    await raw.produce(destination, [{ value: 'hello', headers: { contentType: '"text/plain"', spring_json_header_types: '{}', user: 'u1' } }]);
    await waitFor('the Spring record', () => received.received.length === 1);
    expect(received.received[0]).toMatchObject({
      id: `${destination}-0-0`,
      contentType: 'text/plain',
      headers: { user: 'u1' },
      partition: 0,
      attempt: 1,
    });
    expect(received.received[0]!.headers).not.toHaveProperty('spring_json_header_types');
    await consumer.close();
  });

  it('grows a topic to a larger partition count and never shrinks it', async () => {
    const destination = topic('grow');
    await (await binder.createProducer(outputBinding(destination, { partitionCount: 2 }))).close();
    expect(await raw.partitions(destination)).toBe(2);
    await (await binder.createProducer(outputBinding(destination, { partitionCount: 5 }))).close();
    expect(await raw.partitions(destination)).toBe(5);
    await (await binder.createProducer(outputBinding(destination, { partitionCount: 1 }))).close();
    expect(await raw.partitions(destination)).toBe(5);
  });

  it('a joined group reads partitions added to its topic within seconds', async () => {
    const destination = topic('added', ['g']);
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination), { concurrency: 1 }), received.handler);
    expect(await raw.partitions(destination)).toBe(1);
    // Another binding of the destination asks for more partitions; the consumer's group was
    // assigned the one partition there was.
    await (await binder.createProducer(outputBinding(destination, { partitionCount: 3 }))).close();
    const producer = await binder.createProducer(outputBinding(destination));
    const receipts = await Promise.all(range('p', 6).map((id) => producer.send(message(id))));
    await producer.close();
    expect(new Set(receipts.map((r) => r.partition))).toEqual(new Set([0, 1, 2]));
    await waitFor('all 6, those on the added partitions too', () => received.received.length >= 6, 20_000);
    expect(received.ids().sort()).toEqual(range('p', 6).sort());
    await consumer.close();
  });

  it('spreads unpartitioned sends over the partitions and names the partition in the receipt', async () => {
    const destination = topic('spread');
    await (await binder.createProducer(outputBinding(destination, { partitionCount: 3 }))).close();
    const producer = await binder.createProducer(outputBinding(destination));
    const receipts = await Promise.all(range('s', 6).map((id) => producer.send(message(id))));
    await producer.close();
    expect(new Set(receipts.map((r) => r.partition))).toEqual(new Set([0, 1, 2]));
  });
});

describe('kafka binder: delivery semantics', () => {
  it('commits a partition\'s position only once every record before it is settled', async () => {
    const destination = topic('order', ['g']);
    const held: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination), { concurrency: 1 }), (d) => void held.push(d));
    await sendAll(destination, ['r0']);
    await waitFor('r0', () => held.length === 1);
    // r0 is held; r1 and r2 wait behind it (one record of a partition at a time).
    await sendAll(destination, ['r1', 'r2']);
    await settleQuietly();
    expect(held.map((d) => d.id)).toEqual(['r0']);
    await held[0]!.ack();
    await waitFor('r1', () => held.length === 2);
    await waitFor('position 1 committed', async () => (await raw.committed(group(destination), destination))[0] === 1);
    await held[1]!.ack();
    await waitFor('r2', () => held.length === 3);
    await held[2]!.ack();
    await waitFor('position 3 committed', async () => (await raw.committed(group(destination), destination))[0] === 3);
    await consumer.close();
  });

  it('with batchSize, hands out a partition\'s records batchSize at a time, in order', async () => {
    const destination = topic('batches', ['g']);
    const held: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination), { concurrency: 1, batchSize: 4 }), (d) => void held.push(d));
    await sendAll(destination, range('b', 10));
    await waitFor('the first four', () => held.length === 4);
    await settleQuietly();
    // Four at once, and no more while they are unsettled.
    expect(held.map((d) => d.id)).toEqual(range('b', 4));
    for (const delivery of held.slice(0, 4)) await delivery.ack();
    await waitFor('the next four', () => held.length === 8);
    await settleQuietly();
    expect(held.map((d) => d.id)).toEqual(range('b', 8));
    for (const delivery of held.slice(4)) await delivery.ack();
    await waitFor('the last two', () => held.length === 10);
    for (const delivery of held.slice(8)) await delivery.ack();
    await waitFor('position 10 committed', async () => (await raw.committed(group(destination), destination))[0] === 10);
    await consumer.close();
  });

  it('requeue redelivers the same record with attempt + 1; a second settle is a no-op', async () => {
    const destination = topic('requeue', ['g']);
    const seen: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), (d) => {
      seen.push(d);
      if (seen.length === 1) void d.requeue().then(() => d.ack());
      else void d.ack();
    });
    await sendAll(destination, ['q-1']);
    await waitFor('the redelivery', () => seen.length === 2);
    await settleQuietly();
    expect(seen.map((d) => [d.id, d.attempt])).toEqual([['q-1', 1], ['q-1', 2]]);
    await waitFor('the record committed', async () => (await raw.committed(group(destination), destination))[0] === 1);
    await consumer.close();
  });

  it('a poison record goes to error.<destination>.<group> with the SCSt headers, and its partition moves on', async () => {
    const destination = topic('poison', ['g']);
    const delivered: string[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination), { maxAttempts: 3, deadLetter: true }), (d) => {
      if (d.id !== 'poison') {
        delivered.push(d.id);
        void d.ack();
      } else if (d.attempt < 3) {
        void d.requeue();
      } else {
        void d.deadLetter('handler said no (attempt 3 of 3)');
      }
    });
    // One partition: the later records are behind the poison one.
    await sendAll(destination, ['poison']);
    await sendAll(destination, ['after-1', 'after-2']);
    await waitFor('the records after the poison one', () => delivered.length === 2);
    expect(delivered).toEqual(['after-1', 'after-2']);

    const [dead] = await raw.read(`error.${destination}.${group(destination)}`, 1);
    expect(headerText(dead!.headers, 'x-original-topic')).toBe(destination);
    expect(headerText(dead!.headers, 'x-original-partition')).toBe('0');
    expect(headerText(dead!.headers, 'x-original-offset')).toBe('0');
    expect(headerText(dead!.headers, 'x-exception-message')).toBe('handler said no (attempt 3 of 3)');
    expect(headerText(dead!.headers, 'bindery_messageId')).toBe('poison');
    expect(dead!.partition).toBe(0);
    await waitFor('all three committed', async () => (await raw.committed(group(destination), destination))[0] === 3);
    await consumer.close();
  });

  it('a handler slower than the session timeout keeps its group membership (no rebalance)', async () => {
    const destination = topic('slow', ['g']);
    const seen: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), (d) => void seen.push(d));
    await sendAll(destination, ['slow']);
    await waitFor('the slow message', () => seen.length === 1);
    const admin = await raw.admin();
    const memberOf = async () => (await admin.describeGroups([group(destination)])).groups[0];
    const before = await memberOf();
    expect(before?.members).toHaveLength(1);
    // Held for 1.5 x the 6 s session timeout (the broker's minimum), as a 60 s handler would be
    // against a 40 s session timeout.
    const until = Date.now() + 9_000;
    while (Date.now() < until) {
      const now = await memberOf();
      expect(now?.state).toBe('Stable');
      expect(now?.members.map((m) => m.memberId)).toEqual(before?.members.map((m) => m.memberId));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    await seen[0]!.ack();
    await waitFor('the slow record committed', async () => (await raw.committed(group(destination), destination))[0] === 1);
    expect(seen).toHaveLength(1);
    await consumer.close();
  }, 30_000);

  it('reports consumer lag per partition: records not yet settled', async () => {
    const destination = topic('lag', ['g']);
    const lag = new Map<number, number>();
    const lagBinder = kafkaBinder({}, { onConsumerLag: (binding, partition, value) => binding === 'input' && lag.set(partition, value) });
    await lagBinder.connect();
    const held: Delivery[] = [];
    const consumer = await lagBinder.createConsumer(inputBinding(destination, group(destination)), (d) => void held.push(d));
    await sendAll(destination, range('l', 5));
    await waitFor('lag 5 while the first is held', () => lag.get(0) === 5);
    for (let i = 0; i < 5; i++) {
      await waitFor(`record ${i}`, () => held.length === i + 1);
      await held[i]!.ack();
    }
    await waitFor('lag 0 once all are settled', () => lag.get(0) === 0);
    await consumer.close();
    await lagBinder.close();
  });

  it('pause stops deliveries and resume restarts them', async () => {
    const destination = topic('pause', ['g']);
    const received = collector();
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), received.handler);
    await consumer.pause();
    await sendAll(destination, ['p-1']);
    await settleQuietly();
    expect(received.received).toHaveLength(0);
    await consumer.resume();
    await waitFor('the message after resume', () => received.received.length === 1);
    await consumer.close();
  });

  it('close gives unsettled records back to the group', async () => {
    const destination = topic('close', ['g']);
    const held: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group(destination)), (d) => void held.push(d));
    await sendAll(destination, ['u-1']);
    await waitFor('the message', () => held.length === 1);
    await consumer.close();
    await held[0]!.ack(); // too late: the consumer is closed, nothing is committed
    const again = collector();
    const next = await binder.createConsumer(inputBinding(destination, group(destination)), again.handler);
    await waitFor('the redelivery', () => again.received.length === 1);
    expect(again.ids()).toEqual(['u-1']);
    await next.close();
  });
});

describe('kafka binder: one group name on two destinations', () => {
  it('each member gets the partitions of its own topic only (as Spring Cloud Stream allows the seed to do)', async () => {
    const first = topic('shared-1');
    const second = topic('shared-2');
    const shared = uniqueDestination('shared-group');
    raw.track({ groups: [shared], topics: [`error.${first}.${shared}`, `error.${second}.${shared}`] });
    const one = collector();
    const two = collector();
    const consumers = [
      await binder.createConsumer(inputBinding(first, shared, { concurrency: 2 }), one.handler),
      await binder.createConsumer(inputBinding(second, shared, { concurrency: 2 }), two.handler),
    ];
    await waitFor('both members in the group, with the range protocol', async () => {
      const { groups } = await (await raw.admin()).describeGroups([shared]);
      return groups[0]?.state === 'Stable' && groups[0].members.length === 2 && groups[0].protocol === 'range';
    });
    await settleQuietly();
    await sendAll(first, range('one', 6));
    await sendAll(second, range('two', 6));
    await waitFor('each topic to its own member', () => one.received.length === 6 && two.received.length === 6);
    expect(one.ids().sort()).toEqual(range('one', 6).sort());
    expect(two.ids().sort()).toEqual(range('two', 6).sort());
    await Promise.all(consumers.map((c) => c.close()));
  });
});
