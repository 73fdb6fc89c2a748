/**
 * The Kafka objects of a binding as the operator's backend handles them: a flat list of
 * topics (so the sharing rule can drop some before a delete) computed from the runtime's
 * pure topology function, the one source of Kafka names and partition counts.
 */
import { kafkaTopology as runtimeKafkaTopology, type KafkaTopic, type KafkaTopologyInput } from '../../../../runtime/src/topology/kafka.ts';

export type { KafkaTopic } from '../../../../runtime/src/topology/kafka.ts';

export interface KafkaTopology {
  /** The destination's topic first, then the dead-letter topic if any. */
  topics: KafkaTopic[];
  /** The group the binding consumes as, for lag and membership checks. */
  group?: string;
  deadLetterTopic?: string;
}

export function kafkaTopology(binding: KafkaTopologyInput): KafkaTopology {
  const topology = runtimeKafkaTopology(binding);
  return {
    topics: [topology.topic, ...(topology.deadLetterTopic ? [topology.deadLetterTopic] : [])],
    ...(topology.consumerGroup !== undefined && { group: topology.consumerGroup }),
    ...(topology.deadLetterTopic && { deadLetterTopic: topology.deadLetterTopic.name }),
  };
}
