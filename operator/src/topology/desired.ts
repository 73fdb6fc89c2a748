/**
 * The broker topology a StreamBinding needs: a pure function of its spec and its Binder's
 * type. Names come only from the runtime's topology functions (runtime/src/topology), so the
 * operator declares exactly what the sidecar would.
 */
import { rabbitTopology, type RabbitTopology } from '../../../runtime/src/topology/rabbit.ts';
import type { StreamBindingSpec, Topology } from '../api/types.ts';
import { kafkaTopology, type KafkaTopology } from './kafka/desired.ts';

export type DesiredTopology = { type: 'rabbit'; rabbit: RabbitTopology } | { type: 'kafka'; kafka: KafkaTopology };

export function desiredTopology(spec: StreamBindingSpec, type: 'rabbit' | 'kafka'): DesiredTopology {
  const producer = {
    partitionCount: spec.producer?.partitionCount ?? 1,
    requiredGroups: spec.producer?.requiredGroups ?? [],
  };
  const deadLetter = spec.consumer?.deadLetter ?? true;
  if (type === 'kafka') {
    return {
      type,
      kafka: kafkaTopology({
        direction: spec.direction,
        destination: spec.destination,
        group: spec.group,
        producer,
        consumer: { deadLetter, startOffset: spec.consumer?.startOffset, instanceCount: 1, concurrency: spec.consumer?.concurrency ?? 1 },
      }),
    };
  }
  return {
    type,
    rabbit: rabbitTopology({
      direction: spec.direction,
      destination: spec.destination,
      group: spec.group,
      producer,
      consumer: { deadLetter, partitioned: false, instanceIndex: 0, instanceCount: 1 },
    }),
  };
}

/** The `status.topology` summary (SPEC 3). */
export function topologyStatus(desired: DesiredTopology): Topology {
  if (desired.type === 'kafka') {
    const { topics, deadLetterTopic } = desired.kafka;
    const main = topics[0]!;
    return { topic: main.name, partitions: main.partitions, ...(deadLetterTopic && { deadLetterTopic }) };
  }
  const { exchanges, queues } = desired.rabbit;
  const dlq = queues.find((q) => q.name.endsWith('.dlq'));
  return {
    exchange: exchanges.find((e) => e.type === 'topic')?.name,
    queues: queues.filter((q) => q !== dlq).map((q) => q.name),
    ...(dlq && { deadLetterQueue: dlq.name }),
  };
}

/**
 * Broker objects of a topology as `kind:name` strings, for the sharing rule. RabbitMQ's DLX
 * is left out: it is shared by every destination, on the broker and beyond Bindery.
 */
export function objectIds(desired: DesiredTopology): string[] {
  if (desired.type === 'kafka') return desired.kafka.topics.map((t) => `topic:${t.name}`);
  return [
    ...desired.rabbit.exchanges.filter((e) => e.type === 'topic').map((e) => `exchange:${e.name}`),
    ...desired.rabbit.queues.map((q) => `queue:${q.name}`),
  ];
}

/** `desired` without the objects in `keep` (used by someone else), for deletion. */
export function withoutObjects(desired: DesiredTopology, keep: ReadonlySet<string>): DesiredTopology {
  if (desired.type === 'kafka') {
    return { type: 'kafka', kafka: { ...desired.kafka, topics: desired.kafka.topics.filter((t) => !keep.has(`topic:${t.name}`)) } };
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
  return desired.type === 'kafka' ? desired.kafka.topics.length === 0 : desired.rabbit.exchanges.length + desired.rabbit.queues.length === 0;
}
