/**
 * Broker object names, byte-compatible with Spring Cloud Stream (SPEC section 2). This is
 * the one place that decides a queue's, exchange's or topic's name: the runtime's binder
 * adapters and the operator's topology both call it, so they can never disagree.
 */
import { randomUUID } from 'node:crypto';

/** RabbitMQ's direct exchange for dead letters, shared by all destinations (SCSt's default). */
export const RABBIT_DLX = 'DLX';

export const rabbit = {
  exchange: (destination: string): string => destination,
  groupQueue: (destination: string, group: string): string => `${destination}.${group}`,
  /** Queue of one partition of a group: `<destination>.<group>-<n>`. */
  partitionQueue: (destination: string, group: string, partition: number): string =>
    `${destination}.${group}-${partition}`,
  /** Routing key a partitioned producer uses, and the partition queue binds with. */
  partitionRoutingKey: (destination: string, partition: number): string => `${destination}-${partition}`,
  /** SCSt binds group queues of unpartitioned destinations with `#`. */
  groupBindingKey: '#',
  dlq: (queue: string): string => `${queue}.dlq`,
  /** The DLQ is bound to DLX with the group queue's name, which is also its x-dead-letter-routing-key. */
  dlqRoutingKey: (queue: string): string => queue,
  /** SCSt's AnonymousQueue naming: base64url of a random UUID's 16 bytes, unpadded. */
  anonymousQueue: (destination: string, uuid: string = randomUUID()): string =>
    `${destination}.anonymous.${base64UrlUuid(uuid)}`,
};

export const kafka = {
  topic: (destination: string): string => destination,
  consumerGroup: (group: string): string => group,
  anonymousGroup: (uuid: string = randomUUID()): string => `anonymous.${uuid}`,
  dlqTopic: (destination: string, group: string): string => `error.${destination}.${group}`,
};

function base64UrlUuid(uuid: string): string {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex').toString('base64url');
}
