/**
 * What decides a binding's broker topology, and nothing else. The sidecar passes its
 * BindingConfig (which has these fields and more); the operator maps a StreamBinding's spec
 * with the sidecar's defaults (sidecar-config/defaults.ts), so both ask for the same objects.
 */
export type StartOffset = 'earliest' | 'latest';

export interface TopologyInput {
  direction: 'input' | 'output';
  destination: string;
  /** Inputs only; absent means an anonymous consumer. */
  group?: string;
  producer: {
    /** > 1: a partitioned destination. An input reads it too, to know how many partitions exist. */
    partitionCount: number;
    /** Outputs: groups whose queues exist before any consumer starts. */
    requiredGroups: readonly string[];
    /** Outputs: the required groups' queues carry dead letters (RabbitMQ). */
    deadLetter: boolean;
  };
  consumer: {
    deadLetter: boolean;
    /** Inputs: this instance consumes a share of the partitions. */
    partitioned: boolean;
    instanceIndex: number;
    instanceCount: number;
    concurrency: number;
    /** Absent: `earliest` for groups, `latest` for anonymous consumers. */
    startOffset?: StartOffset;
  };
}
