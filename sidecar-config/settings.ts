/**
 * A binding's producer and consumer settings: the CRD's `spec.producer` / `spec.consumer` and
 * the sidecar config file's `bindings.<name>.producer` / `.consumer` are these schemas, so a
 * field added here reaches the CRD (gen-crds), the rendered ConfigMap and the sidecar's loader
 * together, and the compiler points at each place that must handle it.
 *
 * The sidecar's loader enforces the types, enums and lower bounds; upper bounds, lengths and
 * CEL rules are the API server's (a hand-written file is trusted with them).
 */
import { Type, type Static } from '@sinclair/typebox';
import { cel, GroupName, StringEnum } from './schema-helpers.ts';

export const ProducerSettings = Type.Object(
  {
    partitionKeyExpression: Type.Optional(
      Type.String({ description: 'Expression over payload and headers giving the partition key, e.g. payload.id.', maxLength: 1024 }),
    ),
    partitionCount: Type.Optional(
      Type.Integer({
        description: 'Number of partitions; above 1 the binding is partitioned. May grow, never shrink.',
        minimum: 1,
        maximum: 1024,
        ...cel({ rule: 'self >= oldSelf', message: 'partitionCount may only grow' }),
      }),
    ),
    partitionSelector: Type.Optional(
      StringEnum(['javaHash', 'murmur2'], { description: 'How a key picks a partition: javaHash (SCSt default) or murmur2.' }),
    ),
    requiredGroups: Type.Optional(
      Type.Array(GroupName('A group whose queue exists before any consumer starts.'), {
        description: 'Groups whose queues are declared with the destination, so that nothing sent is lost.',
        maxItems: 32,
      }),
    ),
    deadLetter: Type.Optional(
      Type.Boolean({
        description: "RabbitMQ: declare the requiredGroups' queues with dead letters (DLX and a DLQ), as their consumers' deadLetter: true does; default false, as Spring Cloud Stream's autoBindDlq.",
      }),
    ),
    messageKeyExpression: Type.Optional(
      Type.String({ description: 'Kafka: expression over payload and headers giving the record key, e.g. payload.orderId (the x-message-key header wins).', maxLength: 1024 }),
    ),
  },
  { description: 'Settings of an output binding; only on outputs.' },
);
export type ProducerSettings = Static<typeof ProducerSettings>;

export const ConsumerSettings = Type.Object(
  {
    concurrency: Type.Optional(Type.Integer({ description: 'Deliveries in flight at once.', minimum: 1, maximum: 1000 })),
    maxAttempts: Type.Optional(
      Type.Integer({ description: 'Delivery attempts, the first included, before dead-lettering.', minimum: 1, maximum: 100 }),
    ),
    backOffInitialInterval: Type.Optional(
      Type.Integer({ description: 'First retry delay in milliseconds.', minimum: 0 }),
    ),
    backOffMultiplier: Type.Optional(Type.Number({ description: 'Factor applied to the delay after each retry.', minimum: 1 })),
    backOffMaxInterval: Type.Optional(Type.Integer({ description: 'Longest retry delay in milliseconds.', minimum: 0 })),
    deadLetter: Type.Optional(
      Type.Boolean({
        description: 'Dead-letter messages that exhausted their attempts (else drop them); default false, as Spring Cloud Stream\'s autoBindDlq / enableDlq.',
      }),
    ),
    startOffset: Type.Optional(
      StringEnum(['earliest', 'latest'], { description: 'Kafka start offset: earliest (default for groups) or latest.' }),
    ),
    path: Type.Optional(
      Type.String({ description: "Path on the app that push deliveries go to; default /<binding>.", pattern: '^/', maxLength: 1024 }),
    ),
  },
  { description: 'Settings of an input binding; only on inputs.' },
);
export type ConsumerSettings = Static<typeof ConsumerSettings>;

/**
 * Consumer settings only the sidecar's own file has: the operator leaves them to their
 * defaults, and the pod's environment sets the instance (BINDERY_INSTANCE_INDEX / _COUNT).
 */
export const SidecarConsumerSettings = Type.Object({
  ackTimeout: Type.Optional(Type.Integer({ description: 'Manual-ack SSE deliveries not acked within this many ms are redelivered.', minimum: 1 })),
  pushTimeout: Type.Optional(Type.Integer({ description: 'Push request timeout in ms; a timeout counts as a failed attempt.', minimum: 1 })),
  partitioned: Type.Optional(Type.Boolean({ description: 'This input consumes a share of the partitions.' })),
  instanceIndex: Type.Optional(Type.Integer({ description: "This instance's index among instanceCount.", minimum: 0 })),
  instanceCount: Type.Optional(Type.Integer({ description: 'Instances consuming the partitions.', minimum: 1 })),
});

/** `bindings.<name>.consumer` of the sidecar's file. */
export const FileConsumerSettings = Type.Composite([ConsumerSettings, SidecarConsumerSettings]);
export type FileConsumerSettings = Static<typeof FileConsumerSettings>;
