/**
 * Helpers for the kafka binder's tests: bindings on unique topics, binders with short group
 * timings (the broker runs with group.initial.rebalance.delay.ms=0), and a raw kafkajs client
 * to look at what the broker holds and to clean up.
 */
import { Kafka, logLevel, type IHeaders, type KafkaMessage } from 'kafkajs';
import type { Binder } from '../../../runtime/src/binders/binder.ts';
import { createKafkaBinder, type KafkaBinderOptions } from '../../../runtime/src/binders/kafka/index.ts';
import {
  defaultConsumer,
  defaultProducer,
  DEFAULT_MAX_MESSAGE_BYTES,
  type BindingConfig,
  type ConsumerConfig,
  type ProducerConfig,
} from '../../../runtime/src/config/model.ts';
import { testEnv } from '../../support/env.ts';
import { silentLogger, waitFor } from '../rabbit/support.ts';

export { collector, message, silentLogger, uniqueDestination, waitFor } from '../rabbit/support.ts';

/** Group timings for tests: the broker's minimum session timeout, frequent heartbeats. */
export const FAST_GROUPS: KafkaBinderOptions = {
  consumer: { sessionTimeout: 6_000, heartbeatInterval: 300, rebalanceTimeout: 10_000, maxWaitTime: 100 },
  probeInterval: { up: 1_000, down: 200 },
};

export function kafkaBinder(
  options: KafkaBinderOptions = {},
  deps: { onConsumerLag?: (binding: string, partition: number, lag: number) => void } = {},
): Binder {
  return createKafkaBinder(
    { name: 'kafka', type: 'kafka', kafka: { brokers: testEnv().kafkaBrokers } },
    { logger: silentLogger, ...deps },
    { ...FAST_GROUPS, ...options, consumer: { ...FAST_GROUPS.consumer, ...options.consumer } },
  );
}

export function outputBinding(destination: string, producer: Partial<ProducerConfig> = {}): BindingConfig {
  return {
    name: 'output',
    direction: 'output',
    destination,
    binder: 'kafka',
    contentType: 'application/json',
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer: { ...defaultProducer(), ...producer },
    consumer: defaultConsumer(),
  };
}

export function inputBinding(destination: string, group: string | undefined, consumer: Partial<ConsumerConfig> = {}, name = 'input'): BindingConfig {
  return {
    name,
    direction: 'input',
    destination,
    group,
    binder: 'kafka',
    contentType: 'application/json',
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer: defaultProducer(),
    consumer: { ...defaultConsumer(), ...consumer },
  };
}

/** A plain kafkajs client for reading what the binder wrote and deleting what the tests made. */
export function rawKafka() {
  const kafka = new Kafka({ clientId: 'bindery-test', brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const topics = new Set<string>();
  const groups = new Set<string>();
  let connected: Promise<void> | undefined;
  const ready = () => (connected ??= admin.connect());
  return {
    kafka,
    admin: async () => {
      await ready();
      return admin;
    },
    /** Remembers topics and groups to delete at the end. */
    track(names: { topics?: string[]; groups?: string[] }) {
      for (const t of names.topics ?? []) topics.add(t);
      for (const g of names.groups ?? []) groups.add(g);
    },
    async partitions(topic: string): Promise<number> {
      await ready();
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      return metadata.topics[0]?.partitions.length ?? 0;
    },
    async committed(group: string, topic: string): Promise<Record<number, number>> {
      await ready();
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return Object.fromEntries((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    },
    /** Reads `count` records of `topic` from the beginning with a throw-away group. */
    async read(topic: string, count: number, timeoutMs = 20_000): Promise<(KafkaMessage & { partition: number })[]> {
      const groupId = `bindery-test-reader-${Math.random().toString(16).slice(2)}`;
      groups.add(groupId);
      const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
      const records: (KafkaMessage & { partition: number })[] = [];
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message, partition }) => void records.push({ ...message, partition }) });
        await waitFor(`${count} records in ${topic}`, () => records.length >= count, timeoutMs);
      } finally {
        await consumer.disconnect();
      }
      return records;
    },
    async produce(topic: string, messages: { value: string; headers?: IHeaders; partition?: number }[]) {
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send({ topic, acks: -1, messages });
      } finally {
        await producer.disconnect();
      }
    },
    async cleanup() {
      await ready();
      if (groups.size > 0) await admin.deleteGroups([...groups]).catch(() => {});
      if (topics.size > 0) await admin.deleteTopics({ topics: [...topics] }).catch(() => {});
      await admin.disconnect();
    },
  };
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}
