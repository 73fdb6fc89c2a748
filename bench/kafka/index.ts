/**
 * Kafka for the bench: kafkajs used the way a careful application would use it directly
 * (an idempotent producer, acks=all awaited per message, records with the headers the
 * binder writes so that both put the same bytes on the wire; a consumer group reading with
 * eachMessage, as many partitions at once as the sidecar has deliveries in flight), creating
 * the same topics as the sidecar through the shared pure function.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer as KafkaConsumer } from 'kafkajs';
import { defaultConsumer, defaultProducer } from '../../runtime/src/config/model.ts';
import { kafkaTopology, type KafkaTopic } from '../../topology/kafka/desired.ts';
import { kafkaBrokers } from '../../test/env/kafka.ts';
import { CONTENT_TYPE_HEADER, HEADER_TYPES_HEADER, MESSAGE_ID_HEADER } from '../../runtime/src/binders/kafka/messages.ts';
import type { BrokerBench, DirectConsumer, DirectProducer } from '../harness.ts';

/** By default the test environment's Kafka (KAFKA_BROKERS, or this checkout's node on its BINDERY_ENV_PORT_OFFSET port). */
export async function createKafkaBench(brokerList = kafkaBrokers().join(',')): Promise<BrokerBench> {
  const brokers = brokerList.split(',').map((b) => b.trim()).filter(Boolean);
  const kafka = new Kafka({ clientId: 'bindery-bench-direct', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const cluster = await admin.describeCluster();

  const ensureTopic = async (topic: KafkaTopic): Promise<void> => {
    if ((await admin.listTopics()).includes(topic.name)) return;
    await admin.createTopics({ topics: [{ topic: topic.name, numPartitions: topic.partitions }], waitForLeaders: true });
  };

  return {
    description: `Kafka (cluster ${cluster.clusterId}, ${cluster.brokers.length} broker${cluster.brokers.length === 1 ? '' : 's'}) at ${brokers.join(',')}, kafkajs`,
    binderConfig: { type: 'kafka', kafka: { brokers } },

    async producer(destination): Promise<DirectProducer> {
      // Kafka keeps every record for groups that come later: requiredGroups need nothing here.
      await ensureTopic(kafkaTopology({ direction: 'output', destination, producer: defaultProducer(), consumer: defaultConsumer() }).topic);
      const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
      await producer.connect();
      const record = (value: Buffer): { value: Buffer; headers: Record<string, string> } => ({
        value, headers: { [CONTENT_TYPE_HEADER]: 'application/json', [MESSAGE_ID_HEADER]: randomUUID(), [HEADER_TYPES_HEADER]: HEADER_TYPES },
      });
      return {
        async send(payload) {
          await producer.send({ topic: destination, acks: -1, messages: [record(payload)] });
        },
        async sendBatch(payloads) {
          await producer.send({ topic: destination, acks: -1, messages: payloads.map((payload) => record(payload)) });
        },
        close: () => producer.disconnect(),
      };
    },

    async consume(destination, group, concurrency, onMessage) {
      return joinedPaused(kafka, destination, group, (consumer) => consumer.run({
        partitionsConsumedConcurrently: concurrency,
        eachMessage: async () => {
          await onMessage();
        },
      }));
    },

    async consumeBatched(destination, group, _batchSize, _unacked, onMessages) {
      // kafkajs' own batches (a fetch's records of a partition), handled and committed as one.
      return joinedPaused(kafka, destination, group, (consumer) => consumer.run({
        eachBatch: async ({ batch, resolveOffset }) => {
          onMessages(batch.messages.length);
          const last = batch.messages.at(-1);
          if (last !== undefined) resolveOffset(last.offset);
        },
      }));
    },

    async cleanup(destinations, groups) {
      await deleteQuietly(admin, destinations, groups);
    },

    close: () => admin.disconnect(),
  };
}

/** What the binder writes beside its two headers so that a Spring consumer reads them as strings (binders/kafka/messages.ts). */
const HEADER_TYPES = JSON.stringify({ [CONTENT_TYPE_HEADER]: 'java.lang.String', [MESSAGE_ID_HEADER]: 'java.lang.String' });

/** A consumer that has joined its group with its topic paused (before anything is in it), resumed by start. */
async function joinedPaused(kafka: Kafka, topic: string, group: string, run: (consumer: KafkaConsumer) => Promise<void>): Promise<DirectConsumer> {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500, heartbeatInterval: 1000 });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await run(consumer);
  consumer.pause([{ topic }]);
  await joined;
  return {
    start: async () => consumer.resume([{ topic }]),
    close: () => consumer.disconnect(),
  };
}

async function deleteQuietly(admin: Admin, topics: string[], groups: string[]): Promise<void> {
  await admin.deleteGroups(groups).catch(() => {});
  const existing = new Set(await admin.listTopics());
  const ours = topics.filter((t) => existing.has(t));
  if (ours.length > 0) await admin.deleteTopics({ topics: ours }).catch(() => {});
}
