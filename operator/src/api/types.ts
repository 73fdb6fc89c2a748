/**
 * The custom resources of bindery.io/v1alpha1 as TypeBox schemas. These schemas are the one
 * source of both the TypeScript types the operator reads and the OpenAPI schemas of the CRDs
 * (gen-crds.ts), so the API server validates exactly what the operator expects.
 *
 * Validation that spans fields, or compares a new object with the old one, is written as
 * `x-kubernetes-validations` (CEL) next to the field it concerns, so that `kubectl apply`
 * names that field when it refuses a resource.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { SaslMechanism } from '../../../sidecar-config/file.ts';
import { BROKER_NAME_PATTERN, cel, GroupName, StringEnum, type CelRule } from '../../../sidecar-config/schema-helpers.ts';
import { ConsumerSettings, ProducerSettings } from '../../../sidecar-config/settings.ts';

export const GROUP = 'bindery.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const immutable = (field: string): CelRule => ({ rule: 'self == oldSelf', message: `${field} is immutable` });

/** A Kubernetes object name (DNS-1123 subdomain). */
const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';

const SecretKeyRef = (what: string) =>
  Type.Object(
    {
      name: Type.String({
        description: `Name of the Secret, in the Binder's namespace, that holds the ${what}.`,
        pattern: OBJECT_NAME_PATTERN,
        maxLength: 253,
      }),
      usernameKey: Type.String({
        description: 'Key of the user name in the Secret.',
        default: 'username',
        minLength: 1,
        maxLength: 253,
      }),
      passwordKey: Type.String({
        description: 'Key of the password in the Secret.',
        default: 'password',
        minLength: 1,
        maxLength: 253,
      }),
    },
    { description: `The Secret holding the ${what}; its values reach sidecars as environment variables only.` },
  );

export const Condition = Type.Object(
  {
    type: Type.String({ description: 'Ready, BinderReady, DefaultBinderConflict, ...', maxLength: 316 }),
    status: StringEnum(['True', 'False', 'Unknown'], { description: 'True, False or Unknown.' }),
    reason: Type.String({ description: 'A CamelCase word saying why (Provisioned, Unreachable, ...).', maxLength: 1024 }),
    message: Type.String({ description: 'A sentence for humans.', maxLength: 32768 }),
    lastTransitionTime: Type.String({
      description: 'When the status last changed; stable while the condition holds.',
      format: 'date-time',
    }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The generation of the spec this condition was computed from.', minimum: 0 }),
    ),
  },
  { description: 'One observation of the resource, as in metav1.Condition.' },
);
export type Condition = Static<typeof Condition>;

const Conditions = Type.Array(Condition, {
  description: 'Conditions of the resource; Ready says whether it is usable.',
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

const ObservedGeneration = Type.Integer({
  description: 'The metadata.generation the operator last acted on.',
  minimum: 0,
});

// ---------------------------------------------------------------------------------------
// Binder
// ---------------------------------------------------------------------------------------

export const RabbitBinderSpec = Type.Object(
  {
    host: Type.String({ description: 'Host name or address of the RabbitMQ broker.', minLength: 1, maxLength: 253 }),
    port: Type.Integer({ description: 'AMQP port.', default: 5672, minimum: 1, maximum: 65535 }),
    vhost: Type.String({ description: 'Virtual host.', default: '/', minLength: 1, maxLength: 253 }),
    tls: Type.Boolean({ description: 'Connect with TLS (amqps).', default: false }),
    managementPort: Type.Optional(
      Type.Integer({
        description: 'Port of the management API on the same host, which each resync reads in bulk (default 15672, or 15671 with tls). Where it does not answer, the operator checks each object over AMQP instead and logs so once.',
        minimum: 1,
        maximum: 65535,
      }),
    ),
    credentialsSecret: Type.Optional(SecretKeyRef('RabbitMQ user name and password')),
  },
  { description: 'Connection to a RabbitMQ broker; only with type rabbit.' },
);
export type RabbitBinderSpec = Static<typeof RabbitBinderSpec>;

export const KafkaBinderSpec = Type.Object(
  {
    brokers: Type.Array(
      Type.String({ description: 'host:port of a bootstrap broker.', pattern: '^[^:\\s]+:[0-9]+$', maxLength: 260 }),
      { description: 'Bootstrap brokers as host:port.', minItems: 1, maxItems: 32 },
    ),
    tls: Type.Boolean({ description: 'Connect with TLS.', default: false }),
    sasl: Type.Optional(
      Type.Object(
        {
          mechanism: SaslMechanism,
          secret: SecretKeyRef('SASL user name and password'),
        },
        { description: 'SASL authentication.' },
      ),
    ),
  },
  { description: 'Connection to a Kafka cluster; only with type kafka.' },
);
export type KafkaBinderSpec = Static<typeof KafkaBinderSpec>;

export const BinderSpec = Type.Object(
  {
    type: StringEnum(['rabbit', 'kafka'], { description: 'The broker: rabbit or kafka.' }),
    default: Type.Optional(
      Type.Boolean({
        description: "The namespace's default Binder, used by StreamBindings that name none (at most one per namespace).",
      }),
    ),
    rabbit: Type.Optional(RabbitBinderSpec),
    kafka: Type.Optional(KafkaBinderSpec),
  },
  {
    description: 'One broker connection, as a binders: entry of a Spring Cloud Stream configuration.',
    ...cel(
      { rule: "!has(self.rabbit) || self.type == 'rabbit'", message: 'rabbit settings are only allowed with type: rabbit', fieldPath: '.rabbit', reason: 'FieldValueForbidden' },
      { rule: "!has(self.kafka) || self.type == 'kafka'", message: 'kafka settings are only allowed with type: kafka', fieldPath: '.kafka', reason: 'FieldValueForbidden' },
      { rule: "self.type != 'rabbit' || has(self.rabbit)", message: 'rabbit settings are required with type: rabbit', fieldPath: '.rabbit', reason: 'FieldValueRequired' },
      { rule: "self.type != 'kafka' || has(self.kafka)", message: 'kafka settings are required with type: kafka', fieldPath: '.kafka', reason: 'FieldValueRequired' },
    ),
  },
);
export type BinderSpec = Static<typeof BinderSpec>;

export const BinderStatus = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration),
    conditions: Type.Optional(Conditions),
    brokerVersion: Type.Optional(
      Type.String({ description: 'The broker product and version seen on the last successful connection.' }),
    ),
  },
  { description: 'What the operator observed of this Binder.' },
);
export type BinderStatus = Static<typeof BinderStatus>;

// ---------------------------------------------------------------------------------------
// StreamBinding
// ---------------------------------------------------------------------------------------

/** `spec.producer` and `spec.consumer`: the sidecar config file's own settings (sidecar-config/settings.ts). */
export const ProducerSpec = ProducerSettings;
export type ProducerSpec = Static<typeof ProducerSpec>;

export const ConsumerSpec = ConsumerSettings;
export type ConsumerSpec = Static<typeof ConsumerSpec>;

export const DeletionPolicy = StringEnum(['Retain', 'Delete', 'ForceDelete'], {
  description:
    'What happens to the broker objects when the StreamBinding goes (or moves to another Binder): Retain keeps them, Delete removes them once empty, ForceDelete removes them at once. Objects another StreamBinding uses are always kept.',
  default: 'Retain',
});
export type DeletionPolicy = Static<typeof DeletionPolicy>;

export const StreamBindingSpec = Type.Object(
  {
    direction: StringEnum(['input', 'output'], {
      description: 'input: the app receives; output: the app sends. Immutable.',
      ...cel(immutable('direction')),
    }),
    destination: Type.String({
      description: 'The RabbitMQ exchange or Kafka topic. Immutable.',
      pattern: BROKER_NAME_PATTERN,
      minLength: 1,
      maxLength: 200,
      ...cel(immutable('destination')),
    }),
    group: Type.Optional(
      GroupName('Consumer group (inputs only); absent means an anonymous consumer. Immutable.', cel(immutable('group'))),
    ),
    binder: Type.Optional(
      Type.String({
        description: "Name of the Binder in this namespace; absent means the namespace's default Binder. Editing it moves the binding to another broker.",
        pattern: OBJECT_NAME_PATTERN,
        maxLength: 253,
      }),
    ),
    contentType: Type.Optional(
      Type.String({
        description: 'Content type of the messages an app sends without a Content-Type header; JSON types must be valid JSON. Default application/json.',
        default: 'application/json',
        maxLength: 255,
      }),
    ),
    deletionPolicy: Type.Optional(DeletionPolicy),
    producer: Type.Optional(ProducerSpec),
    consumer: Type.Optional(ConsumerSpec),
  },
  {
    description: 'One binding of an application, as a bindings: entry of a Spring Cloud Stream configuration.',
    ...cel(
      { rule: "!has(self.group) || self.direction == 'input'", message: 'group is only allowed on input bindings', fieldPath: '.group', reason: 'FieldValueForbidden' },
      { rule: "!has(self.consumer) || self.direction == 'input'", message: 'consumer is only allowed on input bindings', fieldPath: '.consumer', reason: 'FieldValueForbidden' },
      { rule: "!has(self.producer) || self.direction == 'output'", message: 'producer is only allowed on output bindings', fieldPath: '.producer', reason: 'FieldValueForbidden' },
      // A field-level `self == oldSelf` only runs when the field exists on both sides, so
      // adding or removing the group is caught here.
      { rule: 'has(self.group) == has(oldSelf.group)', message: 'group is immutable (it may not be added or removed)', fieldPath: '.group' },
    ),
  },
);
export type StreamBindingSpec = Static<typeof StreamBindingSpec>;

export const Topology = Type.Object(
  {
    exchange: Type.Optional(Type.String({ description: 'RabbitMQ topic exchange.' })),
    queues: Type.Optional(Type.Array(Type.String(), { description: 'RabbitMQ queues.' })),
    deadLetterQueue: Type.Optional(Type.String({ description: 'RabbitMQ dead-letter queue.' })),
    topic: Type.Optional(Type.String({ description: 'Kafka topic.' })),
    partitions: Type.Optional(Type.Integer({ description: 'Partitions of the Kafka topic.' })),
    deadLetterTopic: Type.Optional(Type.String({ description: 'Kafka dead-letter topic.' })),
  },
  { description: 'The broker objects this binding uses.' },
);
export type Topology = Static<typeof Topology>;

export const RetiredTopology = Type.Object(
  {
    binder: Type.String({ description: 'The Binder the binding left.' }),
    generation: Type.Integer({ description: 'The generation of the spec when the binding left it.' }),
  },
  { description: 'Topology left behind on a previous Binder, waiting for its deletionPolicy.' },
);
export type RetiredTopology = Static<typeof RetiredTopology>;

export const StreamBindingStatus = Type.Object(
  {
    observedGeneration: Type.Optional(ObservedGeneration),
    conditions: Type.Optional(Conditions),
    binder: Type.Optional(Type.String({ description: 'The Binder the binding is provisioned on.' })),
    topology: Type.Optional(Topology),
    consumerLag: Type.Optional(
      Type.Integer({
        description:
          "Inputs with a group: messages the group has yet to consume (RabbitMQ: ready in the group's queue; Kafka: end offsets less the group's committed offsets, summed over partitions). Read at every resync (--resync-period, default 30 s); rewritten when it reaches 0 or moves by at least 10 messages and 10 %.",
        minimum: 0,
      }),
    ),
    previousBinders: Type.Optional(
      Type.Array(RetiredTopology, { description: 'Binders this binding moved away from, whose topology is not yet released.' }),
    ),
  },
  { description: 'What the operator observed of this StreamBinding.' },
);
export type StreamBindingStatus = Static<typeof StreamBindingStatus>;

// ---------------------------------------------------------------------------------------
// The resources as the operator reads them
// ---------------------------------------------------------------------------------------

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Binder {
  apiVersion: typeof API_VERSION;
  kind: 'Binder';
  metadata: ObjectMeta;
  spec: BinderSpec;
  status?: BinderStatus;
}

export interface StreamBinding {
  apiVersion: typeof API_VERSION;
  kind: 'StreamBinding';
  metadata: ObjectMeta;
  spec: StreamBindingSpec;
  status?: StreamBindingStatus;
}

/** What the CRD generator needs to know of each kind. */
export interface ResourceKind {
  kind: 'Binder' | 'StreamBinding';
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: Array<{ name: string; type: string; jsonPath: string; description: string; priority?: number }>;
}

const readyColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the resource is usable.',
};
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age.' };

export const BINDER: ResourceKind = {
  kind: 'Binder',
  plural: 'binders',
  singular: 'binder',
  shortNames: ['bdr'],
  description: 'A connection to one broker (RabbitMQ or Kafka) that StreamBindings of the namespace use.',
  spec: BinderSpec,
  status: BinderStatus,
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'rabbit or kafka.' },
    { name: 'Default', type: 'boolean', jsonPath: '.spec.default', description: "The namespace's default Binder." },
    { name: 'Broker', type: 'string', jsonPath: '.status.brokerVersion', description: 'The broker product and version last connected to.' },
    readyColumn,
    ageColumn,
  ],
};

export const STREAM_BINDING: ResourceKind = {
  kind: 'StreamBinding',
  plural: 'streambindings',
  singular: 'streambinding',
  shortNames: ['sb'],
  description: 'One binding of an application (input or output) on a destination, provisioned on a Binder.',
  spec: StreamBindingSpec,
  status: StreamBindingStatus,
  printerColumns: [
    { name: 'Direction', type: 'string', jsonPath: '.spec.direction', description: 'input or output.' },
    { name: 'Destination', type: 'string', jsonPath: '.spec.destination', description: 'Exchange or topic.' },
    { name: 'Group', type: 'string', jsonPath: '.spec.group', description: 'Consumer group.' },
    { name: 'Binder', type: 'string', jsonPath: '.status.binder', description: 'The Binder in use.' },
    readyColumn,
    ageColumn,
    // -o wide only (priority 1). Kafka topics only: RabbitMQ reports no partitions in status.
    { name: 'Partitions', type: 'integer', jsonPath: '.status.topology.partitions', description: 'Partitions of the Kafka topic.', priority: 1 },
    // Inputs with a group only: nobody else has a lag of their own.
    { name: 'Lag', type: 'integer', jsonPath: '.status.consumerLag', description: 'Messages the group has yet to consume.', priority: 1 },
  ],
};

export const KINDS = [BINDER, STREAM_BINDING];
