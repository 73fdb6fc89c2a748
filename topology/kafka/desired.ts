/**
 * The Kafka objects a binding needs (SPEC section 2), as a pure function of its topology
 * input. The sidecar's kafka binder creates exactly this, and the operator's Kafka session
 * creates and deletes the same, so the two can never disagree. No broker client here.
 */
import type { StartOffset, TopologyInput } from '../input.ts';
import { kafka } from '../naming.ts';

export interface KafkaTopic {
  name: string;
  /** The least number of partitions; an existing topic with fewer is grown, never shrunk. */
  partitions: number;
}

export interface KafkaTopology {
  topic: KafkaTopic;
  /** Inputs with a group and dead letters on: `error.<destination>.<group>`. */
  deadLetterTopic?: KafkaTopic;
  /** Inputs only: the consumer group (the group, or `anonymous.<uuid>`). */
  consumerGroup?: string;
  /** Inputs only: where a consumer group without committed offsets starts. */
  startOffset?: StartOffset;
}

/** The parts of a binding's settings that decide its Kafka topology. */
export type KafkaTopologyInput = Pick<TopologyInput, 'direction' | 'destination' | 'group'> & {
  producer: Pick<TopologyInput['producer'], 'partitionCount'>;
  consumer: Pick<TopologyInput['consumer'], 'deadLetter' | 'startOffset' | 'instanceCount' | 'concurrency'>;
};

export interface KafkaTopologyOptions {
  /**
   * Consumer group of an anonymous input. Each running anonymous consumer has its own, so
   * only the consumer can name it: without it the topology of an anonymous input has no group
   * (what the operator sees).
   */
  anonymousGroup?: string;
}

/**
 * Partitions: the producer's partitionCount; for an input at least instanceCount x
 * concurrency, so that every consumer of the group has a partition to work on (Spring Cloud
 * Stream's Kafka provisioner does the same; a group of two on one partition would leave one
 * member idle). An existing topic is only ever grown to this. The dead-letter
 * topic has as many partitions as its topic: a dead letter goes to its original partition
 * number, so the order of one partition's failures is kept.
 */
export function kafkaTopology(binding: KafkaTopologyInput, options: KafkaTopologyOptions = {}): KafkaTopology {
  const partitions = Math.max(
    1,
    binding.producer.partitionCount,
    binding.direction === 'input' ? binding.consumer.instanceCount * binding.consumer.concurrency : 1,
  );
  const topic = { name: kafka.topic(binding.destination), partitions };
  if (binding.direction === 'output') return { topic };

  const { group } = binding;
  const consumerGroup = group !== undefined ? kafka.consumerGroup(group) : options.anonymousGroup;
  return {
    topic,
    ...(group !== undefined && binding.consumer.deadLetter && {
      deadLetterTopic: { name: kafka.dlqTopic(binding.destination, group), partitions },
    }),
    ...(consumerGroup !== undefined && { consumerGroup }),
    startOffset: binding.consumer.startOffset ?? (group !== undefined ? 'earliest' : 'latest'),
  };
}

/** The topics of a topology: the destination's, then the dead-letter topic if any. */
export function kafkaTopics(topology: KafkaTopology): KafkaTopic[] {
  return [topology.topic, ...(topology.deadLetterTopic ? [topology.deadLetterTopic] : [])];
}
