/**
 * Loads the runtime's own configuration file (SPEC section 6, the schema of
 * sidecar-config/file.ts, which is also what the operator renders) into a RuntimeConfig, or
 * hands a Spring Cloud Stream `application.yml` to the Spring loader. Every error names the
 * key's path (`bindings.input.consumer.maxAttempts: must be an integer >= 1`) so a user can
 * find it; keys the loader does not know are collected as warnings rather than dropped in
 * silence.
 */
import { readFile } from 'node:fs/promises';
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { LineCounter, parse as parseYaml } from 'yaml';
import { APP_HOST_DEFAULT, BINDING_DEFAULTS, HTTP_DEFAULTS, RABBIT_DEFAULTS } from '../../../sidecar-config/defaults.ts';
import { SIDECAR_ENV } from '../../../sidecar-config/env.ts';
import { SidecarConfigFile, expandsEnv } from '../../../sidecar-config/file.ts';
import { FileConsumerSettings, ProducerSettings } from '../../../sidecar-config/settings.ts';
import {
  defaultConsumer,
  defaultProducer,
  type BinderConfig,
  type BindingConfig,
  type ConsumerConfig,
  type KafkaBinderConfig,
  type ProducerConfig,
  type RuntimeConfig,
} from './model.ts';
import { compileExpression } from '../partition/index.ts';
import { redact } from '../redact.ts';
import { ConfigError, ConfigSection as Section, MissingEnv, isRecord, joinPath as join } from './section.ts';
import { fromSpring } from './spring.ts';

export { ConfigError } from './section.ts';

/** Flags and environment of the sidecar that override or narrow what the file says. */
export interface RuntimeOverrides {
  /** Use only these bindings of the file (`--bindings`, BINDERY_BINDINGS). */
  bindings?: string[];
  /** Push target port (`--app-port`, BINDERY_APP_PORT); overrides `app.port`. */
  appPort?: number;
  port?: number;
  opsPort?: number;
  /** Partitioned inputs (BINDERY_INSTANCE_INDEX / BINDERY_INSTANCE_COUNT). */
  instanceIndex?: number;
  instanceCount?: number;
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  overrides?: RuntimeOverrides;
}

export async function loadConfigFile(file: string, options: LoadOptions = {}): Promise<RuntimeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return parseConfig(text, file, options);
}

export async function parseConfig(text: string, source: string, options: LoadOptions = {}): Promise<RuntimeConfig> {
  let doc: unknown;
  const lines = new LineCounter();
  try {
    // Without the parser's code frame: the lines around a mistake may hold a password.
    doc = parseYaml(text, { prettyErrors: false, lineCounter: lines });
  } catch (error) {
    const at = (error as { pos?: [number, number] }).pos?.[0];
    const where = at === undefined ? '' : ` at line ${lines.linePos(at).line}, column ${lines.linePos(at).col}`;
    throw new ConfigError(`${source}: not valid YAML${where}: ${redact((error as Error).message)}`);
  }
  const env = options.env ?? process.env;
  const spring = isRecord(doc) && 'spring' in doc;
  // A Spring application.yml is its owner's own file, and Spring resolves placeholders in
  // every property: so does Bindery (a missing variable fails at once, as the Spring loader
  // reads plain values). The bindery.yaml format, which the operator renders from
  // StreamBindings, has them expanded only in the fields its schema marks.
  doc = spring ? expandEnv(doc ?? {}, env, '', false) : expandMarkedFields(doc ?? {}, SidecarConfigFile, env, '');
  const config = spring ? fromSpring(doc, source) : fromBinderyDocument(doc, options.overrides?.bindings);
  return applyOverrides(config, options.overrides ?? {});
}

// ---------------------------------------------------------------------------------------
// ${ENV_VAR} expansion

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Every string in `value`; with `lazy`, one naming an unset variable becomes a MissingEnv that fails when read. */
function expandEnv(value: unknown, env: Record<string, string | undefined>, path: string, lazy: boolean): unknown {
  if (typeof value === 'string') {
    let missing: MissingEnv | undefined;
    const expanded = value.replace(ENV_REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const found = env[name] ?? fallback;
      if (found === undefined) missing ??= new MissingEnv(name, path);
      return found ?? '';
    });
    if (missing && !lazy) throw missing.error();
    return missing ?? expanded;
  }
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, env, `${path}[${i}]`, lazy));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, join(path, k), lazy)]));
  }
  return value;
}

/**
 * The document with `${VAR}` expanded in the fields `schema` marks (sidecar-config/file.ts),
 * lazily (an unset variable fails only when its field is read). Every other value, and every
 * key the schema does not know, is left as written.
 */
function expandMarkedFields(value: unknown, schema: TSchema | undefined, env: Record<string, string | undefined>, path: string): unknown {
  if (schema === undefined) return value;
  if (expandsEnv(schema)) return expandEnv(value, env, path, true);
  if (Array.isArray(value) && schema.type === 'array') {
    return value.map((item, i) => expandMarkedFields(item, schema.items as TSchema | undefined, env, `${path}[${i}]`));
  }
  if (isRecord(value) && schema.type === 'object') {
    const properties = (schema.properties ?? {}) as Record<string, TSchema>;
    // Type.Record's values: one pattern that takes any key.
    const anyKey = Object.values((schema.patternProperties ?? {}) as Record<string, TSchema>)[0];
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandMarkedFields(v, properties[k] ?? anyKey, env, join(path, k))]));
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// The bindery.yaml format

/**
 * `selected`: the bindings this sidecar uses (`--bindings`). A ConfigMap serves a whole
 * namespace, so then the other bindings, and binders none of the selected ones use, are not
 * validated: a mistake in another pod's binding must not stop this one. Without a selection
 * every binding and binder must be valid.
 */
function fromBinderyDocument(doc: unknown, selected?: string[]): RuntimeConfig {
  const warnings: string[] = [];
  const root = Section.of(doc, '', warnings);

  const bindersSection = root.child('binders');
  const binderNames = bindersSection.keys();
  if (binderNames.length === 0) throw new ConfigError('binders: at least one binder is required');
  const readBinders = new Map<string, BinderConfig | ConfigError>();
  for (const name of binderNames) {
    try {
      readBinders.set(name, readBinder(bindersSection.child(name), name));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      readBinders.set(name, error);
    }
  }
  bindersSection.done();

  const defaultBinder = root.string('defaultBinder');
  if (defaultBinder !== undefined && !readBinders.has(defaultBinder)) {
    throw root.invalid('defaultBinder', `names no binder (binders: ${binderNames.join(', ')})`);
  }
  const fallbackBinder = defaultBinder ?? (binderNames.length === 1 ? binderNames[0] : undefined);

  const bindingsSection = root.child('bindings');
  const bindings: Record<string, BindingConfig> = {};
  const selecting = selected !== undefined && selected.length > 0;
  for (const name of bindingsSection.keys()) {
    if (selecting && !selected.includes(name)) {
      bindingsSection.raw(name);
      continue;
    }
    bindings[name] = readBinding(bindingsSection.child(name), name, binderNames, fallbackBinder);
  }
  bindingsSection.done();

  const binders: Record<string, BinderConfig> = {};
  const used = new Set(Object.values(bindings).map((binding) => binding.binder));
  for (const [name, binder] of readBinders) {
    if (binder instanceof ConfigError) {
      if (used.has(name) || !selecting) throw binder;
      warnings.push(`${binder.message} (binder ${name} is not used here, ignored)`);
    } else binders[name] = binder;
  }

  const appSection = root.child('app');
  const appPort = appSection.integer('port', 1, 65535);
  const appHost = appSection.string('host') ?? APP_HOST_DEFAULT;
  appSection.done();

  const httpSection = root.child('http');
  const http = {
    host: httpSection.string('host') ?? HTTP_DEFAULTS.host,
    port: httpSection.integer('port', 0, 65535) ?? HTTP_DEFAULTS.port,
    opsHost: httpSection.string('opsHost') ?? HTTP_DEFAULTS.opsHost,
    opsPort: httpSection.integer('opsPort', 0, 65535) ?? HTTP_DEFAULTS.opsPort,
  };
  httpSection.done();
  root.done();

  return {
    binders,
    ...(defaultBinder !== undefined && { defaultBinder }),
    bindings,
    ...(appPort !== undefined && { app: { port: appPort, host: appHost } }),
    http,
    warnings,
  };
}

function readBinder(section: Section, name: string): BinderConfig {
  const type = section.oneOf('type', ['memory', 'rabbit', 'kafka'] as const);
  if (type === undefined) throw section.invalid('type', 'is required (memory, rabbit or kafka)');
  const binder: BinderConfig = { name, type };
  if (type === 'rabbit') binder.rabbit = { url: readRabbitUrl(section.child('rabbit')) };
  if (type === 'kafka') binder.kafka = readKafka(section.child('kafka'));
  section.done();
  return binder;
}

/** Accepts `{url}` or `{host, port, vhost, username, password, tls}`, always yields a URL. */
function readRabbitUrl(section: Section): string {
  const url = section.string('url');
  const fields = ['host', 'port', 'vhost', 'username', 'password', 'tls'].filter((key) => section.has(key));
  if (url !== undefined) {
    if (fields.length > 0) throw section.invalid(fields[0]!, 'give either url or host/port/vhost/username/password/tls, not both');
    if (!/^amqps?:\/\//.test(url)) throw section.invalid('url', 'must start with amqp:// or amqps://');
    section.done();
    return url;
  }
  const tls = section.boolean('tls') ?? false;
  const host = section.string('host') ?? RABBIT_DEFAULTS.host;
  const port = section.integer('port', 1, 65535) ?? (tls ? RABBIT_DEFAULTS.tlsPort : RABBIT_DEFAULTS.port);
  const vhost = section.string('vhost') ?? RABBIT_DEFAULTS.vhost;
  const username = section.string('username') ?? RABBIT_DEFAULTS.username;
  const password = section.string('password') ?? RABBIT_DEFAULTS.password;
  section.done();
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${tls ? 'amqps' : 'amqp'}://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${hostPart}:${port}/${encodeURIComponent(vhost)}`;
}

function readKafka(section: Section): KafkaBinderConfig {
  const brokers = section.stringList('brokers');
  if (!brokers || brokers.length === 0) throw section.invalid('brokers', 'is required (a list of host:port)');
  const kafka: KafkaBinderConfig = { brokers };
  const clientId = section.string('clientId');
  if (clientId !== undefined) kafka.clientId = clientId;
  const tls = section.boolean('tls');
  if (tls !== undefined) kafka.tls = tls;
  if (section.has('sasl')) {
    const sasl = section.child('sasl');
    const mechanism = sasl.oneOf('mechanism', ['plain', 'scram-sha-256', 'scram-sha-512'] as const) ?? 'plain';
    kafka.sasl = { mechanism, username: sasl.requiredString('username'), password: sasl.requiredString('password') };
    sasl.done();
  }
  section.done();
  return kafka;
}

function readBinding(
  section: Section,
  name: string,
  binders: string[],
  fallbackBinder: string | undefined,
): BindingConfig {
  const direction = section.oneOf('direction', ['input', 'output'] as const);
  if (direction === undefined) throw section.invalid('direction', 'is required (input or output)');
  const destination = section.string('destination') ?? name;
  const group = section.string('group');
  if (group !== undefined && direction === 'output') throw section.invalid('group', 'only input bindings have a group');
  const binder = section.string('binder') ?? fallbackBinder;
  if (binder === undefined) throw section.invalid('binder', 'is required when there are several binders and no defaultBinder');
  if (!binders.includes(binder)) throw section.invalid('binder', `names no binder (binders: ${binders.join(', ')})`);
  const contentType = section.string('contentType') ?? BINDING_DEFAULTS.contentType;
  const maxMessageBytes = section.integer('maxMessageBytes', 1) ?? BINDING_DEFAULTS.maxMessageBytes;
  const producer = readProducer(section.child('producer'));
  const consumer = readConsumer(section.child('consumer'));
  section.done();
  return {
    name,
    direction,
    destination,
    ...(group !== undefined && { group }),
    binder,
    contentType,
    maxMessageBytes,
    producer,
    consumer,
  };
}

function readProducer(section: Section): ProducerConfig {
  const producer: ProducerConfig = { ...defaultProducer(), ...readSettings(section, ProducerSettings) };
  for (const key of ['partitionKeyExpression', 'messageKeyExpression'] as const) {
    const expression = producer[key];
    if (expression === undefined) continue;
    try {
      compileExpression(expression);
    } catch (error) {
      throw section.invalid(key, (error as Error).message);
    }
  }
  section.done();
  return producer;
}

function readConsumer(section: Section): ConsumerConfig {
  const consumer: ConsumerConfig = { ...defaultConsumer(), ...readSettings(section, FileConsumerSettings) };
  if (consumer.path !== undefined && !consumer.path.startsWith('/')) throw section.invalid('path', 'must start with /');
  section.done();
  if (consumer.backOffMaxInterval < consumer.backOffInitialInterval) {
    throw section.invalid('backOffMaxInterval', 'must be >= backOffInitialInterval');
  }
  if (consumer.instanceIndex >= consumer.instanceCount) {
    throw section.invalid('instanceIndex', 'must be lower than instanceCount');
  }
  return consumer;
}

/**
 * Every field `schema` declares, read from `section` as the schema types it: enums, integers
 * and numbers with their lower bound, booleans, strings and string lists. A field added to the
 * shared schema is read here without a change.
 */
function readSettings<T extends TObject>(section: Section, schema: T): Partial<Static<T>> {
  const read: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const value = readField(section, key, property);
    if (value !== undefined) read[key] = value;
  }
  return read as Partial<Static<T>>;
}

function readField(section: Section, key: string, property: TSchema): unknown {
  if (Array.isArray(property.enum)) return section.oneOf(key, property.enum as string[]);
  switch (property.type) {
    case 'integer':
      return section.integer(key, (property.minimum as number | undefined) ?? Number.MIN_SAFE_INTEGER);
    case 'number':
      return section.number(key, (property.minimum as number | undefined) ?? -Number.MAX_VALUE);
    case 'boolean':
      return section.boolean(key);
    case 'string':
      return section.string(key);
    case 'array':
      return section.stringList(key);
  }
  throw new Error(`${join(section.path, key)}: the schema's ${String(property.type)} fields have no reader`);
}

// ---------------------------------------------------------------------------------------
// Overrides from flags and environment

export function applyOverrides(config: RuntimeConfig, overrides: RuntimeOverrides): RuntimeConfig {
  let bindings = config.bindings;
  if (overrides.bindings && overrides.bindings.length > 0) {
    const missing = overrides.bindings.filter((name) => !config.bindings[name]);
    if (missing.length > 0) {
      throw new ConfigError(`--bindings: ${missing.join(', ')} not in the configuration (it has: ${Object.keys(config.bindings).join(', ') || 'none'})`);
    }
    bindings = Object.fromEntries(overrides.bindings.map((name) => [name, config.bindings[name]!]));
  }
  if (overrides.instanceIndex !== undefined || overrides.instanceCount !== undefined) {
    const index = overrides.instanceIndex ?? 0;
    const count = overrides.instanceCount ?? 1;
    if (index >= count) throw new ConfigError(`${SIDECAR_ENV.instanceIndex}: ${index} must be lower than ${SIDECAR_ENV.instanceCount} (${count})`);
    bindings = Object.fromEntries(
      Object.entries(bindings).map(([name, binding]) => [
        name,
        binding.direction === 'input'
          ? { ...binding, consumer: { ...binding.consumer, instanceIndex: index, instanceCount: count } }
          : binding,
      ]),
    );
  }
  const app = overrides.appPort !== undefined ? { port: overrides.appPort, host: config.app?.host ?? '127.0.0.1' } : config.app;
  return {
    ...config,
    bindings,
    ...(app !== undefined && { app }),
    http: {
      ...config.http,
      ...(overrides.port !== undefined && { port: overrides.port }),
      ...(overrides.opsPort !== undefined && { opsPort: overrides.opsPort }),
    },
  };
}

/** Reads the sidecar's flags and environment; flags win over the environment. */
export function overridesFrom(
  flags: { bindings?: string; appPort?: string; port?: string; opsPort?: string },
  env: Record<string, string | undefined>,
): RuntimeOverrides {
  const overrides: RuntimeOverrides = {};
  const bindings = flags.bindings ?? env[SIDECAR_ENV.bindings];
  if (bindings) overrides.bindings = bindings.split(',').map((s) => s.trim()).filter(Boolean);
  const appPort = flags.appPort ?? env[SIDECAR_ENV.appPort];
  if (appPort) overrides.appPort = portNumber(appPort, flags.appPort !== undefined ? '--app-port' : SIDECAR_ENV.appPort, 1);
  if (flags.port !== undefined) overrides.port = portNumber(flags.port, '--port', 0);
  if (flags.opsPort !== undefined) overrides.opsPort = portNumber(flags.opsPort, '--ops-port', 0);
  const index = env[SIDECAR_ENV.instanceIndex];
  const count = env[SIDECAR_ENV.instanceCount];
  if (index) overrides.instanceIndex = wholeNumber(index, SIDECAR_ENV.instanceIndex, 0);
  if (count) overrides.instanceCount = wholeNumber(count, SIDECAR_ENV.instanceCount, 1);
  return overrides;
}

function portNumber(value: string, what: string, min: number): number {
  const port = wholeNumber(value, what, min);
  if (port > 65535) throw new ConfigError(`${what}: must be a port number (${min} to 65535)`);
  return port;
}

function wholeNumber(value: string, what: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min) throw new ConfigError(`${what}: must be an integer >= ${min}`);
  return n;
}
