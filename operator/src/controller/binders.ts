/**
 * From a Binder resource to what a broker client needs: its settings with the credentials
 * read from the Secret (never logged), the Binder a StreamBinding resolves to, and the
 * broker's identity, which says whether two Binders reach the same broker objects.
 */
import type { Binder, StreamBinding } from '../api/types.ts';
import type { SecretSource } from '../k8s/secrets.ts';
import { binderCredentialsRef } from '../render/credentials.ts';
import { defaultBinderName } from '../render/sidecar-config.ts';
import { BrokerError, type BrokerSettings } from '../../../topology/session.ts';

export interface BinderLister {
  get(name: string, namespace: string): Binder | undefined;
  list(namespace?: string): readonly Binder[];
}

/** `fresh`: read the Secret now (a Binder's own reconcile), not a read of a few seconds ago. */
export async function brokerSettings(binder: Binder, secrets: SecretSource, options: { fresh?: boolean } = {}): Promise<BrokerSettings> {
  const { spec, metadata } = binder;
  const ref = binderCredentialsRef(spec);
  let username: string | undefined;
  let password: string | undefined;
  if (ref) {
    const secret = await secrets.get(ref.secretName, metadata.namespace, options);
    if (!secret) throw new BrokerError('SecretNotFound', `Secret ${ref.secretName} not found`);
    const read = (key: string): string => {
      const value = secret.data?.[key] ?? (secret.stringData?.[key] !== undefined ? Buffer.from(secret.stringData[key]!).toString('base64') : undefined);
      if (value === undefined) throw new BrokerError('SecretKeyMissing', `Secret ${ref.secretName} has no key ${key}`);
      return Buffer.from(value, 'base64').toString('utf8');
    };
    username = read(ref.usernameKey);
    password = read(ref.passwordKey);
  }
  if (spec.type === 'rabbit') {
    const rabbit = spec.rabbit!;
    const tls = rabbit.tls ?? false;
    // As the RabbitMQ topology operator: the management API beside AMQP, on its default port.
    const managementPort = rabbit.managementPort ?? (tls ? 15671 : 15672);
    return { type: 'rabbit', host: brokerHost(rabbit.host, metadata.namespace), port: rabbit.port ?? 5672, vhost: rabbit.vhost ?? '/', tls, username, password, managementPort };
  }
  const kafka = spec.kafka!;
  return {
    type: 'kafka',
    brokers: kafka.brokers.map((broker) => brokerHost(broker, metadata.namespace)),
    tls: kafka.tls ?? false,
    ...(kafka.sasl && username !== undefined && password !== undefined && { sasl: { mechanism: kafka.sasl.mechanism, username, password } }),
  };
}

/** Two Binders with the same identity reach the same exchanges, queues and topics. */
export function brokerIdentity(binder: Binder): string {
  const { spec, metadata } = binder;
  if (spec.type === 'rabbit') return `rabbit://${brokerHost(spec.rabbit?.host ?? '', metadata.namespace)}:${spec.rabbit?.port ?? 5672}/${spec.rabbit?.vhost ?? '/'}`;
  return `kafka://${(spec.kafka?.brokers ?? []).map((broker) => brokerHost(broker, metadata.namespace)).sort().join(',')}`;
}

/**
 * A short host name (no dot, not an address) is a Service in the Binder's namespace, as it is
 * for the sidecars there; the operator runs in a namespace of its own, so it qualifies the
 * name with the Binder's (`rabbitmq` -> `rabbitmq.<namespace>.svc`). Takes `host` or
 * `host:port`.
 */
export function brokerHost(address: string, namespace: string): string {
  const match = /^([^:]+)(:\d+)?$/.exec(address);
  if (!match) return address; // an IPv6 literal
  const [, host, port = ''] = match;
  if (host!.includes('.') || host === 'localhost') return address;
  return `${host}.${namespace}.svc${port}`;
}

/** The Binder name a StreamBinding uses: its own, else the namespace's default. */
export function resolveBinderName(binding: StreamBinding, binders: BinderLister): string | undefined {
  return binding.spec.binder ?? defaultBinderName(binders.list(binding.metadata.namespace));
}
