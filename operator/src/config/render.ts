/**
 * The `bindery-config` ConfigMap of a namespace: the runtime configuration (SPEC 6, the
 * format runtime/src/config/load.ts reads) of every StreamBinding and Binder there. Pure, so
 * it is table-tested and the operator rewrites the ConfigMap only when this output changes.
 *
 * Credentials never appear: a binder's user name and password are `${ENV}` references that
 * the runtime expands from variables the webhook fills from the Binder's Secret.
 */
import { stringify } from 'yaml';
import type { Binder, StreamBinding } from '../api/types.ts';
import { binderCredentialsRef, binderEnvReference } from './credentials.ts';

export const CONFIG_MAP_NAME = 'bindery-config';
export const CONFIG_MAP_KEY = 'bindery.yaml';

type Rendered = Record<string, unknown>;

/** The namespace's default Binder: the only one marked default; none when zero or several are. */
export function defaultBinderName(binders: readonly Binder[]): string | undefined {
  const defaults = binders.filter((b) => b.spec.default === true && !b.metadata.deletionTimestamp);
  return defaults.length === 1 ? defaults[0]!.metadata.name : undefined;
}

export function renderBinder(binder: Binder): Rendered {
  const name = binder.metadata.name;
  const credentials = binderCredentialsRef(binder.spec)
    ? { username: binderEnvReference(name, 'USERNAME'), password: binderEnvReference(name, 'PASSWORD') }
    : {};
  if (binder.spec.type === 'rabbit') {
    const rabbit = binder.spec.rabbit;
    return {
      type: 'rabbit',
      rabbit: {
        host: rabbit?.host,
        port: rabbit?.port ?? 5672,
        vhost: rabbit?.vhost ?? '/',
        ...credentials,
        tls: rabbit?.tls ?? false,
      },
    };
  }
  const kafka = binder.spec.kafka;
  return {
    type: 'kafka',
    kafka: {
      brokers: kafka?.brokers ?? [],
      tls: kafka?.tls ?? false,
      ...(kafka?.sasl ? { sasl: { mechanism: kafka.sasl.mechanism, ...credentials } } : {}),
    },
  };
}

export function renderBinding(binding: StreamBinding, defaultBinder: string | undefined): Rendered {
  const spec = binding.spec;
  const binder = spec.binder ?? defaultBinder;
  return withoutUndefined({
    direction: spec.direction,
    destination: spec.destination,
    group: spec.group,
    binder,
    contentType: spec.contentType ?? 'application/json',
    producer: spec.direction === 'output' && spec.producer ? withoutUndefined({ ...spec.producer }) : undefined,
    consumer: spec.direction === 'input' && spec.consumer ? withoutUndefined({ ...spec.consumer }) : undefined,
  });
}

/** The `bindery.yaml` of one namespace; deterministic (sorted by name) so equal inputs give equal bytes. */
export function renderConfig(binders: readonly Binder[], bindings: readonly StreamBinding[]): string {
  const live = <T extends { metadata: { name: string; deletionTimestamp?: string } }>(items: readonly T[]): T[] =>
    items.filter((i) => !i.metadata.deletionTimestamp).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const defaultBinder = defaultBinderName(binders);
  const config: Rendered = {
    binders: Object.fromEntries(live(binders).map((b) => [b.metadata.name, renderBinder(b)])),
    ...(defaultBinder ? { defaultBinder } : {}),
    bindings: Object.fromEntries(live(bindings).map((s) => [s.metadata.name, renderBinding(s, defaultBinder)])),
  };
  return '# Rendered by the Bindery operator from the Binders and StreamBindings of this namespace.\n' + stringify(config);
}

function withoutUndefined(record: Rendered): Rendered {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}
