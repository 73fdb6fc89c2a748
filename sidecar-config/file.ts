/**
 * The sidecar's config file (SPEC section 6) as one schema: what the operator renders into a
 * namespace's `bindery-config` ConfigMap is a value of this type, and the file the sidecar
 * loads (runtime/src/config/load.ts) is read against it, field by field. Defaults are in
 * defaults.ts.
 *
 * `${ENV}` references are expanded in the fields marked FROM_ENV and nowhere else: a binder's
 * connection settings and credentials, which a deployment keeps in its environment (the
 * webhook fills the credential variables from the Binder's Secret). Every other field is taken
 * as written, so that text from a StreamBinding (a content type, a destination, an
 * expression) can never name a variable and read it, another Binder's password say.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { StringEnum } from './schema-helpers.ts';
import { FileConsumerSettings, ProducerSettings } from './settings.ts';

/** The ConfigMap the operator renders per namespace, and its one key (the sidecar's `--config` file). */
export const CONFIG_MAP_NAME = 'bindery-config';
export const CONFIG_FILE_NAME = 'bindery.yaml';

/** The schema keyword that marks a field whose `${ENV}` references the loader expands. */
export const FROM_ENV_KEYWORD = 'x-bindery-from-env';
const FROM_ENV = { [FROM_ENV_KEYWORD]: true } as const;

/** Whether `schema` marks its field as one whose `${ENV}` references are expanded. */
export function expandsEnv(schema: TSchema): boolean {
  return (schema as Record<string, unknown>)[FROM_ENV_KEYWORD] === true;
}

const Port = (description: string) => Type.Integer({ description, minimum: 1, maximum: 65535 });

export const RabbitBinderEntry = Type.Object({
  url: Type.Optional(Type.String({ ...FROM_ENV, description: 'amqp(s)://user:pass@host:port/vhost; or the fields below, not both.' })),
  host: Type.Optional(Type.String(FROM_ENV)),
  port: Type.Optional(Type.Integer({ ...FROM_ENV, description: 'AMQP port; 5672, or 5671 with tls.', minimum: 1, maximum: 65535 })),
  vhost: Type.Optional(Type.String(FROM_ENV)),
  username: Type.Optional(Type.String(FROM_ENV)),
  password: Type.Optional(Type.String(FROM_ENV)),
  tls: Type.Optional(Type.Boolean()),
});

export const SaslMechanism = StringEnum(['plain', 'scram-sha-256', 'scram-sha-512'], {
  description: 'SASL mechanism: plain, scram-sha-256 or scram-sha-512.',
});

export const KafkaBinderEntry = Type.Object({
  brokers: Type.Array(Type.String(FROM_ENV), { description: 'Bootstrap brokers as host:port.', minItems: 1 }),
  clientId: Type.Optional(Type.String()),
  tls: Type.Optional(Type.Boolean()),
  sasl: Type.Optional(Type.Object({ mechanism: Type.Optional(SaslMechanism), username: Type.String(FROM_ENV), password: Type.String(FROM_ENV) })),
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
