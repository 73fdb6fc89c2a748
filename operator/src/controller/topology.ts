/**
 * A StreamBinding's broker topology: its spec as the shared topology input, with the
 * sidecar's own defaults (sidecar-config/defaults.ts), so the operator declares exactly what
 * the sidecar would; and the `status.topology` summary of it (SPEC 3).
 */
import { CONSUMER_DEFAULTS, PRODUCER_DEFAULTS } from '../../../sidecar-config/defaults.ts';
import { desiredTopology, type BrokerType, type DesiredTopology } from '../../../topology/desired.ts';
import type { TopologyInput } from '../../../topology/input.ts';
import type { StreamBindingSpec, Topology } from '../api/types.ts';

export function topologyInput(spec: StreamBindingSpec): TopologyInput {
  return {
    direction: spec.direction,
    destination: spec.destination,
    ...(spec.group !== undefined && { group: spec.group }),
    producer: {
      partitionCount: spec.producer?.partitionCount ?? PRODUCER_DEFAULTS.partitionCount,
      requiredGroups: spec.producer?.requiredGroups ?? PRODUCER_DEFAULTS.requiredGroups,
      deadLetter: spec.producer?.deadLetter ?? PRODUCER_DEFAULTS.deadLetter,
    },
    consumer: {
      deadLetter: spec.consumer?.deadLetter ?? CONSUMER_DEFAULTS.deadLetter,
      concurrency: spec.consumer?.concurrency ?? CONSUMER_DEFAULTS.concurrency,
      partitioned: CONSUMER_DEFAULTS.partitioned,
      instanceIndex: CONSUMER_DEFAULTS.instanceIndex,
      instanceCount: CONSUMER_DEFAULTS.instanceCount,
      ...(spec.consumer?.startOffset !== undefined && { startOffset: spec.consumer.startOffset }),
    },
  };
}

/** The topology of a StreamBinding on a Binder of `type`. */
export function bindingTopology(spec: StreamBindingSpec, type: BrokerType): DesiredTopology {
  return desiredTopology(topologyInput(spec), type);
}

/** The `status.topology` summary (SPEC 3). */
export function topologyStatus(desired: DesiredTopology): Topology {
  if (desired.type === 'kafka') {
    const { topic, deadLetterTopic } = desired.kafka;
    return { topic: topic.name, partitions: topic.partitions, ...(deadLetterTopic && { deadLetterTopic: deadLetterTopic.name }) };
  }
  const { exchanges, queues } = desired.rabbit;
  const dlq = queues.find((q) => q.name.endsWith('.dlq'));
  return {
    exchange: exchanges.find((e) => e.type === 'topic')?.name,
    queues: queues.filter((q) => q !== dlq).map((q) => q.name),
    ...(dlq && { deadLetterQueue: dlq.name }),
  };
}
