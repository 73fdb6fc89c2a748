import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { startKafka, stopKafka, testEnv } from '../../support/env.ts';

describe('Kafka of the test environment', () => {
  const client = new Kafka({ clientId: 'smoke', brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = client.admin();
  const topics: string[] = [];

  afterAll(async () => {
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  });

  it('creates a topic with 3 partitions and reads its metadata back', async () => {
    const topic = `smoke.partitions.${randomUUID()}`;
    topics.push(topic);
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId).sort();
    expect(partitions).toEqual([0, 1, 2]);
  });

  it('produces a record and consumes it back in a consumer group', async () => {
    const topic = `smoke.roundtrip.${randomUUID()}`;
    topics.push(topic);
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = client.producer();
    const consumer = client.consumer({ groupId: `smoke-${randomUUID()}` });
    try {
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'hello kafka' }] });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = await new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString() ?? '') });
      });
      expect(received).toBe('hello kafka');
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });

  it('keeps topics and records across stopKafka/startKafka', async () => {
    const topic = `smoke.restart.${randomUUID()}`;
    topics.push(topic);
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = client.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: 'survives' }] });
    await producer.disconnect();
    await admin.disconnect();

    await stopKafka();
    await startKafka();

    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, high: '1' })]);
  });
});
