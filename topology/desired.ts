/**
 * The broker topology of one binding as a broker session handles it: the RabbitMQ objects or
 * Kafka topics of its topology input on a Binder's broker type, and the sharing rule's view of
 * them (which objects another binding still uses, so a delete must leave them).
 */
import type { TopologyInput } from './input.ts';
import { kafkaTopics, kafkaTopology, type KafkaTopic, type KafkaTopology } from './kafka/desired.ts';
import { rabbitTopology, type RabbitTopology } from './rabbit/desired.ts';

export type BrokerType = 'rabbit' | 'kafka';

export type DesiredTopology =
  | { type: 'rabbit'; rabbit: RabbitTopology }
  | {
      type: 'kafka';
      kafka: KafkaTopology;
      /** Topics another binding still uses: a delete leaves them, usage does not count them. */
      retained?: readonly string[];
    };

/**
 * The whole topology of a binding as a shared broker sees it: every partition queue of a
 * partitioned input (instance 0 of 1) and no anonymous queue or group, which only a running
 * consumer can own.
 */
export function desiredTopology(input: TopologyInput, type: BrokerType): DesiredTopology {
  const whole = { ...input, consumer: { ...input.consumer, partitioned: false, instanceIndex: 0, instanceCount: 1 } };
  return type === 'kafka' ? { type, kafka: kafkaTopology(whole) } : { type, rabbit: rabbitTopology(whole) };
}

/** The Kafka topics a session acts on: the topology's, less those retained. */
export function ownTopics(desired: Extract<DesiredTopology, { type: 'kafka' }>): KafkaTopic[] {
  const retained = new Set(desired.retained ?? []);
  return kafkaTopics(desired.kafka).filter((t) => !retained.has(t.name));
}

/**
 * Broker objects of a topology as `kind:name` strings, for the sharing rule. RabbitMQ's DLX
 * is left out: it is shared by every destination, on the broker and beyond Bindery.
 */
export function objectIds(desired: DesiredTopology): string[] {
  if (desired.type === 'kafka') return ownTopics(desired).map((t) => `topic:${t.name}`);
  return [
    ...desired.rabbit.exchanges.filter((e) => e.type === 'topic').map((e) => `exchange:${e.name}`),
    ...desired.rabbit.queues.map((q) => `queue:${q.name}`),
  ];
}

/** `desired` without the objects in `keep` (used by someone else), for deletion. */
export function withoutObjects(desired: DesiredTopology, keep: ReadonlySet<string>): DesiredTopology {
  if (desired.type === 'kafka') {
    const retained = kafkaTopics(desired.kafka).filter((t) => keep.has(`topic:${t.name}`) || desired.retained?.includes(t.name));
    return { ...desired, retained: retained.map((t) => t.name) };
  }
  const { rabbit } = desired;
  const queues = rabbit.queues.filter((q) => !keep.has(`queue:${q.name}`));
  const queueNames = new Set(queues.map((q) => q.name));
  return {
    type: 'rabbit',
    rabbit: {
      exchanges: rabbit.exchanges.filter((e) => e.type === 'topic' && !keep.has(`exchange:${e.name}`)),
      queues,
      bindings: rabbit.bindings.filter((b) => queueNames.has(b.queue)),
      consumeQueues: rabbit.consumeQueues.filter((q) => queueNames.has(q)),
    },
  };
}

export function isEmptyTopology(desired: DesiredTopology): boolean {
  return desired.type === 'kafka' ? ownTopics(desired).length === 0 : desired.rabbit.exchanges.length + desired.rabbit.queues.length === 0;
}
