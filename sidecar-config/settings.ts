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
import { CONSUMER_DEFAULTS, PRODUCER_DEFAULTS } from './defaults.ts';
import { cel, GroupName, StringEnum } from './schema-helpers.ts';

/**
 * The defaults as the descriptions quote them (`kubectl explain` shows those), read from their
 * one place. Typed loosely on purpose: the defaults' types come from the schemas below, so a
 * typed read here would make the schemas' types depend on themselves.
 */
const shown: Readonly<Record<string, unknown>> = { ...PRODUCER_DEFAULTS, ...CONSUMER_DEFAULTS };

function byDefault(setting: string): string {
  if (!(setting in shown)) throw new Error(`no default for ${setting} in sidecar-config/defaults.ts`);
  return String(shown[setting]);
}

/** A default in milliseconds, with seconds for the reader. */
const msByDefault = (setting: string): string => `${byDefault(setting)} (${Number(byDefault(setting)) / 1000} s)`;

export const ProducerSettings = Type.Object(
  {
    partitionKeyExpression: Type.Optional(
      Type.String({
        description:
          "Where each message's partition key comes from, as in Spring Cloud Stream: payload.id, headers.region, payload.region + '-' + payload.id. " +
          'An x-partition-key header on the send takes precedence. No default: a partitioned send without either is refused (400).',
        maxLength: 1024,
      }),
    ),
    partitionCount: Type.Optional(
      Type.Integer({
        description:
          'Number of partitions; above 1 the binding is partitioned: equal keys go to the same partition (a RabbitMQ routing key ' +
          `<destination>-<n>, or the Kafka partition). May grow, never shrink. Default ${byDefault('partitionCount')} (not partitioned).`,
        minimum: 1,
        maximum: 1024,
        ...cel({ rule: 'self >= oldSelf', message: 'partitionCount may only grow' }),
      }),
    ),
    partitionSelector: Type.Optional(
      StringEnum(['javaHash', 'murmur2'], {
        description:
          "How a key picks its partition: javaHash (Java's hashCode, as Spring Cloud Stream, so Java producers agree key by key) " +
          `or murmur2 (Kafka's own partitioner). Default ${byDefault('partitionSelector')}.`,
      }),
    ),
    requiredGroups: Type.Optional(
      Type.Array(GroupName('A group whose queue exists before any consumer starts.'), {
        description:
          "Groups whose queues are declared with the destination (RabbitMQ), so that messages sent before those groups' consumers " +
          'first start wait for them instead of being discarded. Kafka keeps every message in the topic anyway. Default none.',
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
  { description: 'Settings of an output binding (direction: output only): how its messages are partitioned, and which groups must not miss any.' },
);
export type ProducerSettings = Static<typeof ProducerSettings>;

export const ConsumerSettings = Type.Object(
  {
    concurrency: Type.Optional(
      Type.Integer({
        description:
          'Messages delivered to the app at the same time (pushes in flight, or SSE events not yet acknowledged). On Kafka the topic ' +
          `also gets at least this many partitions, so that no concurrent consumer is left without one. Default ${byDefault('concurrency')}.`,
        minimum: 1,
        maximum: 1000,
      }),
    ),
    batchSize: Type.Optional(
      Type.Integer({
        description:
          'Push only: most messages in one POST to the app. Above 1 the app receives application/x-ndjson, one SSE-shaped message ' +
          'per line, and answers for each (a results list, or any 2xx for all); the messages of an ordered partition (Kafka, or a ' +
          `partitioned RabbitMQ queue) go one batch at a time. Up to concurrency batches are in flight. Default ${byDefault('batchSize')} (one message per POST).`,
        minimum: 1,
        maximum: 1000,
      }),
    ),
    maxAttempts: Type.Optional(
      Type.Integer({
        description:
          'Delivery attempts of a message, the first one included; after the last failed attempt the message is dead-lettered ' +
          `(or dropped, see deadLetter). 1 means no retries. Default ${byDefault('maxAttempts')}.`,
        minimum: 1,
        maximum: 100,
      }),
    ),
    backOffInitialInterval: Type.Optional(
      Type.Integer({
        description:
          'Delay before the first retry, in milliseconds; each later retry waits backOffMultiplier times longer, up to ' +
          `backOffMaxInterval. Default ${msByDefault('backOffInitialInterval')}.`,
        minimum: 0,
      }),
    ),
    backOffMultiplier: Type.Optional(
      Type.Number({
        description:
          'Factor by which the delay grows from one retry to the next: after failed attempt n the message waits ' +
          `backOffInitialInterval x backOffMultiplier^(n-1) ms, at most backOffMaxInterval. Default ${byDefault('backOffMultiplier')}.`,
        minimum: 1,
      }),
    ),
    backOffMaxInterval: Type.Optional(
      Type.Integer({
        description: `Longest delay between two attempts, in milliseconds. Default ${msByDefault('backOffMaxInterval')}.`,
        minimum: 0,
      }),
    ),
    deadLetter: Type.Optional(
      Type.Boolean({
        description:
          'Keep the messages that used up their attempts, or that the app refused with a 4xx, in a dead-letter queue ' +
          '(RabbitMQ <destination>.<group>.dlq) or topic (Kafka error.<destination>.<group>), as Spring Cloud Stream\'s autoBindDlq; ' +
          `false drops them, counted in bindery_deliveries_total{outcome="dropped"}. Inputs with a group only. Default ${byDefault('deadLetter')}.`,
      }),
    ),
    startOffset: Type.Optional(
      StringEnum(['earliest', 'latest'], {
        description:
          'Kafka only: where a consumer group without a committed offset starts, earliest (the oldest message the topic keeps) ' +
          'or latest (messages sent from then on). Default earliest for a group, latest for an anonymous input.',
      }),
    ),
    path: Type.Optional(
      Type.String({
        description:
          'Path on the app that push deliveries are POSTed to, for pods with the bindery.io/app-port annotation (others pull over SSE). ' +
          'Default /<binding name>.',
        pattern: '^/',
        maxLength: 1024,
      }),
    ),
  },
  {
    description:
      'Settings of an input binding (direction: input only): how many messages are in flight, how failed deliveries are ' +
      'retried and dead-lettered, where Kafka starts and where pushes go.',
  },
);
export type ConsumerSettings = Static<typeof ConsumerSettings>;

/**
 * Consumer settings only the sidecar's own file has: the operator leaves them to their
 * defaults, and the pod's environment sets the instance (BINDERY_INSTANCE_INDEX / _COUNT).
 */
export const SidecarConsumerSettings = Type.Object({
  ackTimeout: Type.Optional(Type.Integer({
    description: `Manual-ack SSE deliveries not acked within this many ms are redelivered. Default ${msByDefault('ackTimeout')}.`,
    minimum: 1,
  })),
  pushTimeout: Type.Optional(Type.Integer({
    description: `Push request timeout in ms; a timeout counts as a failed attempt. Default ${msByDefault('pushTimeout')}.`,
    minimum: 1,
  })),
  partitioned: Type.Optional(Type.Boolean({ description: 'This input consumes a share of the partitions.' })),
  instanceIndex: Type.Optional(Type.Integer({ description: "This instance's index among instanceCount.", minimum: 0 })),
  instanceCount: Type.Optional(Type.Integer({ description: 'Instances consuming the partitions.', minimum: 1 })),
});

/** `bindings.<name>.consumer` of the sidecar's file. */
export const FileConsumerSettings = Type.Composite([ConsumerSettings, SidecarConsumerSettings]);
export type FileConsumerSettings = Static<typeof FileConsumerSettings>;
