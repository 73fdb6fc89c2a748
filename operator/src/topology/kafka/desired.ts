/**
 * The Kafka objects a binding needs (SPEC section 2): its topic, and for a group input with
 * dead letters, the `error.<destination>.<group>` topic. Names from runtime/src/topology/naming.ts.
 */
import { kafka } from '../../../../runtime/src/topology/naming.ts';

export interface KafkaTopic {
  name: string;
  /** The least partition count; a topic with more is left as it is (Kafka cannot shrink). */
  partitions: number;
}

export interface KafkaTopology {
  topics: KafkaTopic[];
  /** The group the binding consumes as, for lag and membership checks. */
  group?: string;
  deadLetterTopic?: string;
}

export interface KafkaTopologyInput {
  direction: 'input' | 'output';
  destination: string;
  group?: string;
  partitionCount: number;
  deadLetter: boolean;
}

export function kafkaTopology(binding: KafkaTopologyInput): KafkaTopology {
  const topics: KafkaTopic[] = [
    { name: kafka.topic(binding.destination), partitions: binding.direction === 'output' ? Math.max(1, binding.partitionCount) : 1 },
  ];
  if (binding.direction === 'output' || binding.group === undefined) return { topics };
  const group = kafka.consumerGroup(binding.group);
  if (!binding.deadLetter) return { topics, group };
  const deadLetterTopic = kafka.dlqTopic(binding.destination, binding.group);
  topics.push({ name: deadLetterTopic, partitions: 1 });
  return { topics, group, deadLetterTopic };
}
