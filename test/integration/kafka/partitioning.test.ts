/**
 * Equal keys land in the same partition on both brokers, at the partition Java computes:
 * Kafka records carry it as their partition and scst_partition, RabbitMQ routes them to the
 * queue `<destination>.<group>-<n>` of that partition. With murmur2, Bindery agrees with a
 * plain Kafka producer that sends the key.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Delivery, Producer } from '../../../runtime/src/binders/binder.ts';
import { defaultProducer, type ProducerConfig } from '../../../runtime/src/config/model.ts';
import { javaHashPartition, murmur2Partition, partitionFor } from '../../../runtime/src/partition/index.ts';
import {
  inputBinding as rabbitInput, outputBinding as rabbitOutput, rabbitBinder, rawRabbit,
} from '../rabbit/support.ts';
import { headerText, inputBinding, kafkaBinder, outputBinding, rawKafka, uniqueDestination, waitFor } from './support.ts';

const raw = rawKafka();
afterAll(() => raw.cleanup());

const KEYS = ['user-1', 'user-2', 'polygenelubricants', 'héllo', '😀', '', 'order-12345', 'studyExchange'];
/** Every key three times, interleaved, as messages of different ids. */
const messages = KEYS.flatMap((key, k) => [0, 1, 2].map((round) => ({ id: `m-${round}-${k}`, key }))).sort((a, b) => a.id.localeCompare(b.id));

async function sendKeyed(producer: Producer, producerConfig: ProducerConfig) {
  for (const { id, key } of messages) {
    const partition = partitionFor(producerConfig, { payload: { id, key }, headers: {}, key });
    await producer.send({ id, payload: Buffer.from(JSON.stringify({ id, key })), contentType: 'application/json', headers: {}, partition });
  }
}

const keyOf = (delivery: Delivery) => (JSON.parse(delivery.payload.toString()) as { key: string }).key;

describe('partitioning by key', () => {
  it('Kafka: javaHash puts equal keys in one partition, the one Java computes, with scst_partition', async () => {
    const destination = uniqueDestination('part-kafka');
    const group = `${destination}-g`;
    raw.track({ topics: [destination, `error.${destination}.${group}`], groups: [group] });
    const binder = kafkaBinder();
    await binder.connect();
    const producerConfig: ProducerConfig = { ...defaultProducer(), partitionCount: 3 };
    const received: Delivery[] = [];
    const consumer = await binder.createConsumer(inputBinding(destination, group, { concurrency: 3 }), (d) => {
      received.push(d);
      void d.ack();
    });
    const producer = await binder.createProducer(outputBinding(destination, producerConfig));
    await sendKeyed(producer, producerConfig);
    await waitFor('every keyed message', () => received.length === messages.length);
    for (const delivery of received) expect(delivery.partition).toBe(javaHashPartition(keyOf(delivery), 3));
    const partitionsOfKey = new Map<string, Set<number | undefined>>();
    for (const d of received) partitionsOfKey.set(keyOf(d), (partitionsOfKey.get(keyOf(d)) ?? new Set()).add(d.partition));
    expect([...partitionsOfKey.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set(received.map((d) => d.partition)).size).toBeGreaterThan(1);

    const records = await raw.read(destination, messages.length);
    for (const record of records) expect(headerText(record.headers, 'scst_partition')).toBe(String(record.partition));
    await Promise.all([consumer.close(), producer.close()]);
    await binder.close();
  });

  it('Kafka: murmur2 agrees with a plain Kafka producer sending the key', async () => {
    const destination = uniqueDestination('part-murmur');
    raw.track({ topics: [destination] });
    const binder = kafkaBinder();
    await binder.connect();
    const producerConfig: ProducerConfig = { ...defaultProducer(), partitionCount: 5, partitionSelector: 'murmur2' };
    const producer = await binder.createProducer(outputBinding(destination, producerConfig));
    const ours = await Promise.all(KEYS.map(async (key) => (await producer.send({
      id: key, payload: Buffer.from('x'), contentType: 'text/plain', headers: {},
      partition: partitionFor(producerConfig, { payload: 'x', headers: {}, key }),
    })).partition));
    await producer.close();
    await binder.close();

    // kafkajs' default partitioner is the Java client's (murmur2 of the key's UTF-8 bytes).
    const plain = raw.kafka.producer();
    await plain.connect();
    const theirs = [];
    for (const key of KEYS) {
      const [metadata] = await plain.send({ topic: destination, acks: -1, messages: [{ key, value: 'x' }] });
      theirs.push(metadata!.partition);
    }
    await plain.disconnect();
    expect(ours).toEqual(theirs);
    expect(ours).toEqual(KEYS.map((key) => murmur2Partition(key, 5)));
  });

  it('RabbitMQ: equal keys reach the queue <destination>.<group>-<n> of the partition Java computes', async () => {
    const destination = uniqueDestination('part-rabbit');
    const binder = rabbitBinder();
    await binder.connect();
    const producerConfig: ProducerConfig = { ...defaultProducer(), partitionCount: 3 };
    const byInstance: Delivery[][] = [[], [], []];
    const consumers = await Promise.all([0, 1, 2].map((instanceIndex) =>
      binder.createConsumer(rabbitInput(destination, 'g', { partitioned: true, instanceIndex, instanceCount: 3 }), (d) => {
        byInstance[instanceIndex]!.push(d);
        void d.ack();
      })));
    const producer = await binder.createProducer(rabbitOutput(destination, producerConfig));
    await sendKeyed(producer, producerConfig);
    await waitFor('every keyed message', () => byInstance.flat().length === messages.length);
    for (const [instance, deliveries] of byInstance.entries()) {
      for (const delivery of deliveries) {
        expect(javaHashPartition(keyOf(delivery), 3)).toBe(instance);
        expect(delivery.partition).toBe(instance);
      }
    }
    expect(byInstance.filter((d) => d.length > 0).length).toBeGreaterThan(1);
    await Promise.all([...consumers.map((c) => c.close()), producer.close()]);
    await binder.close();
    const cleanup = await rawRabbit();
    await cleanup.deleteAll({ queues: [0, 1, 2].map((n) => `${destination}.g-${n}`).concat(`${destination}.g.dlq`), exchanges: [destination] });
    await cleanup.close();
  });
});
