/**
 * The sidecar's config file (SPEC section 6) as one schema: what the operator renders into a
 * namespace's `bindery-config` ConfigMap is a value of this type, and the file the sidecar
 * loads (runtime/src/config/load.ts) is read against it, field by field. Defaults are in
 * defaults.ts; values may be `${ENV}` references, expanded by the loader.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './schema-helpers.ts';
import { FileConsumerSettings, ProducerSettings } from './settings.ts';

/** The ConfigMap the operator renders per namespace, and its one key (the sidecar's `--config` file). */
export const CONFIG_MAP_NAME = 'bindery-config';
export const CONFIG_FILE_NAME = 'bindery.yaml';

const Port = (description: string) => Type.Integer({ description, minimum: 1, maximum: 65535 });

export const RabbitBinderEntry = Type.Object({
  url: Type.Optional(Type.String({ description: 'amqp(s)://user:pass@host:port/vhost; or the fields below, not both.' })),
  host: Type.Optional(Type.String()),
  port: Type.Optional(Port('AMQP port; 5672, or 5671 with tls.')),
  vhost: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  tls: Type.Optional(Type.Boolean()),
});

export const SaslMechanism = StringEnum(['plain', 'scram-sha-256', 'scram-sha-512'], {
  description: 'SASL mechanism: plain, scram-sha-256 or scram-sha-512.',
});

export const KafkaBinderEntry = Type.Object({
  brokers: Type.Array(Type.String(), { description: 'Bootstrap brokers as host:port.', minItems: 1 }),
  clientId: Type.Optional(Type.String()),
  tls: Type.Optional(Type.Boolean()),
  sasl: Type.Optional(Type.Object({ mechanism: Type.Optional(SaslMechanism), username: Type.String(), password: Type.String() })),
});

export const BinderEntry = Type.Object({
  type: StringEnum(['memory', 'rabbit', 'kafka']),
  rabbit: Type.Optional(RabbitBinderEntry),
  kafka: Type.Optional(KafkaBinderEntry),
});
export type BinderEntry = Static<typeof BinderEntry>;

export const BindingEntry = Type.Object({
  direction: StringEnum(['input', 'output']),
  /** Default: the binding's name. */
  destination: Type.Optional(Type.String()),
  group: Type.Optional(Type.String()),
  /** Default: `defaultBinder`, or the only binder. */
  binder: Type.Optional(Type.String()),
  contentType: Type.Optional(Type.String()),
  maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1 })),
  producer: Type.Optional(ProducerSettings),
  consumer: Type.Optional(FileConsumerSettings),
});
export type BindingEntry = Static<typeof BindingEntry>;

export const SidecarConfigFile = Type.Object({
  binders: Type.Record(Type.String(), BinderEntry),
  defaultBinder: Type.Optional(Type.String()),
  bindings: Type.Record(Type.String(), BindingEntry),
  app: Type.Optional(Type.Object({ port: Type.Optional(Port('Where inputs are pushed.')), host: Type.Optional(Type.String()) })),
  http: Type.Optional(
    Type.Object({
      host: Type.Optional(Type.String()),
      port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
      opsHost: Type.Optional(Type.String()),
      opsPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    }),
  ),
});
export type SidecarConfigFile = Static<typeof SidecarConfigFile>;
