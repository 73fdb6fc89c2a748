/**
 * Renders the sidecar's config for a namespace: the `bindery-config` ConfigMap's
 * `bindery.yaml`, a value of the shared file schema (sidecar-config/file.ts) that the sidecar
 * loads as is. Pure, so it is table-tested, and the operator rewrites the ConfigMap only when
 * this output changes.
 *
 * Credentials never appear: a binder's user name and password are `${ENV}` references that
 * the sidecar expands from variables the webhook fills from the Binder's Secret.
 */
import { stringify } from 'yaml';
import { BINDING_DEFAULTS, RABBIT_DEFAULTS } from '../../../sidecar-config/defaults.ts';
import { binderEnvReference } from '../../../sidecar-config/env.ts';
import type { BinderEntry, BindingEntry, SidecarConfigFile } from '../../../sidecar-config/file.ts';
import type { Binder, StreamBinding } from '../api/types.ts';
import { binderCredentialsRef } from './credentials.ts';

export { CONFIG_FILE_NAME as CONFIG_MAP_KEY, CONFIG_MAP_NAME } from '../../../sidecar-config/file.ts';

/** The namespace's default Binder: the only one marked default; none when zero or several are. */
export function defaultBinderName(binders: readonly Binder[]): string | undefined {
  const defaults = binders.filter((b) => b.spec.default === true && !b.metadata.deletionTimestamp);
  return defaults.length === 1 ? defaults[0]!.metadata.name : undefined;
}

export function renderBinder(binder: Binder): BinderEntry {
  const name = binder.metadata.name;
  const credentials = binderCredentialsRef(binder.spec)
    ? { username: binderEnvReference(name, 'USERNAME'), password: binderEnvReference(name, 'PASSWORD') }
    : undefined;
  if (binder.spec.type === 'rabbit') {
    const rabbit = binder.spec.rabbit;
    return {
      type: 'rabbit',
      rabbit: {
        host: rabbit?.host,
        port: rabbit?.port ?? RABBIT_DEFAULTS.port,
        vhost: rabbit?.vhost ?? RABBIT_DEFAULTS.vhost,
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
      ...(kafka?.sasl && credentials ? { sasl: { mechanism: kafka.sasl.mechanism, ...credentials } } : {}),
    },
  };
}

export function renderBinding(binding: StreamBinding, defaultBinder: string | undefined): BindingEntry {
  const spec = binding.spec;
  const binder = spec.binder ?? defaultBinder;
  return withoutUndefined({
    direction: spec.direction,
    destination: spec.destination,
    group: spec.group,
    binder,
    contentType: spec.contentType ?? BINDING_DEFAULTS.contentType,
    producer: spec.direction === 'output' && spec.producer ? withoutUndefined({ ...spec.producer }) : undefined,
    consumer: spec.direction === 'input' && spec.consumer ? withoutUndefined({ ...spec.consumer }) : undefined,
  });
}

/** The namespace's sidecar config, as the shared schema's type. */
export function sidecarConfig(binders: readonly Binder[], bindings: readonly StreamBinding[]): SidecarConfigFile {
  const live = <T extends { metadata: { name: string; deletionTimestamp?: string } }>(items: readonly T[]): T[] =>
    items.filter((i) => !i.metadata.deletionTimestamp).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const defaultBinder = defaultBinderName(binders);
  return {
    binders: Object.fromEntries(live(binders).map((b) => [b.metadata.name, renderBinder(b)])),
    ...(defaultBinder ? { defaultBinder } : {}),
    bindings: Object.fromEntries(live(bindings).map((s) => [s.metadata.name, renderBinding(s, defaultBinder)])),
  };
}

/** The `bindery.yaml` of one namespace; deterministic (sorted by name) so equal inputs give equal bytes. */
export function renderConfig(binders: readonly Binder[], bindings: readonly StreamBinding[]): string {
  return '# Rendered by the Bindery operator from the Binders and StreamBindings of this namespace.\n' + stringify(sidecarConfig(binders, bindings));
}

function withoutUndefined<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}
