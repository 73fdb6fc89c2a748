import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { startKafka, stopKafka, testEnv } from '../../support/env.ts';

describe('Kafka of the test environment', () => {
  const client = new Kafka({ clientId: 'smoke', brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = client.admin();
  const topics: string[] = [];

  /**
   * Creates a topic and waits until every partition has a leader. kafkajs's own wait (on by
   * default) gives up on a fresh broker's "does not host this topic-partition".
   */
  async function createTopic(topic: string, numPartitions: number): Promise<void> {
    topics.push(topic);
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: false })).toBe(true);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
      const partitions = metadata?.topics[0]?.partitions ?? [];
      if (partitions.length === numPartitions && partitions.every((p) => p.leader >= 0)) return;
      if (Date.now() > deadline) throw new Error(`topic ${topic} got no leaders within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  afterAll(async () => {
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  });

  it('creates a topic with 3 partitions and reads its metadata back', async () => {
    const topic = `smoke.partitions.${randomUUID()}`;
    await createTopic(topic, 3);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId).sort();
    expect(partitions).toEqual([0, 1, 2]);
  });

  it('produces a record and consumes it back in a consumer group', async () => {
    const topic = `smoke.roundtrip.${randomUUID()}`;
    await createTopic(topic, 1);
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
    await createTopic(topic, 1);
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
  }, 180_000);
});
