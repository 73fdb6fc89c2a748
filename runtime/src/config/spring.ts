/**
 * Reads a Spring Cloud Stream `application.yml` as is (SPEC section 6) into a RuntimeConfig,
 * so a Spring service's configuration runs unchanged behind the sidecar.
 *
 * Spring's relaxed binding is honoured where users rely on it: `max-attempts`, `maxAttempts`
 * and `max_attempts` are the same key, and `spring.cloud.stream.bindings.input.group: g` may be
 * written as one dotted key. Keys Bindery does not act on are reported once each as warnings
 * (the highest unknown key, not every leaf below it); invalid values throw with the key path.
 */
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  defaultConsumer,
  defaultProducer,
  type BinderConfig,
  type BindingConfig,
  type ConsumerConfig,
  type Direction,
  type ProducerConfig,
  type RuntimeConfig,
} from './model.ts';
import { ConfigError, isRecord, joinPath } from './section.ts';
import { Props, expandDottedKeys } from './spring-props.ts';
import { compileExpression } from '../partition/index.ts';

const SPRING_DEFAULT_CONTENT_TYPE = 'application/json';

export function fromSpring(doc: unknown, source: string): RuntimeConfig {
  const warnings: string[] = [];
  const fail = (error: unknown): never => {
    throw error instanceof ConfigError ? new ConfigError(`${source}: ${error.message}`) : error;
  };
  try {
    return readSpring(Props.of(expandDottedKeys(doc), '', warnings), warnings);
  } catch (error) {
    return fail(error);
  }
}

function readSpring(root: Props, warnings: string[]): RuntimeConfig {
  const server = root.child('server');
  if (server.has('port')) {
    server.raw('port');
    warnings.push(`${joinPath(server.path, server.keyName('port'))}: the application's own port, ignored by the sidecar (the push target is app.port or --app-port)`);
  }
  server.done();

  const spring = root.child('spring');
  const stream = spring.child('cloud').child('stream');
  const topRabbit = spring.child('rabbitmq');
  const topKafkaBrokers = kafkaBrokersOf(stream, spring);

  const bindingsSection = stream.child('bindings');
  const requestedBinders = new Set<string>();
  for (const name of bindingsSection.keys()) {
    const binder = binderName(bindingsSection.peekChild(name));
    if (binder !== undefined) requestedBinders.add(binder);
  }

  const binders = readBinders(stream.child('binders'), topRabbit, topKafkaBrokers);
  if (Object.keys(binders).length === 0) {
    // Without `binders:`, the top-level broker settings are the implicit binder, named after
    // its type as Spring Cloud Stream names it.
    if (topRabbit.isPresent()) binders.rabbit = rabbitBinder('rabbit', topRabbit, undefined);
    if (topKafkaBrokers !== undefined) binders.kafka = kafkaBinder('kafka', topKafkaBrokers.brokers);
  }
  // A binding may name a binder by its type alone (`binder: kafka`), as in Spring Cloud Stream.
  for (const name of requestedBinders) {
    if (binders[name] === undefined && name === 'rabbit') binders.rabbit = rabbitBinder('rabbit', topRabbit, undefined);
    if (binders[name] === undefined && name === 'kafka') {
      binders.kafka = kafkaBinder('kafka', topKafkaBrokers?.brokers ?? ['localhost:9092']);
    }
  }
  topRabbit.child('ssl').done();
  topRabbit.done();
  if (Object.keys(binders).length === 0) {
    throw new ConfigError('spring.cloud.stream.binders: no binder configured (give spring.cloud.stream.binders, spring.rabbitmq.* or spring.cloud.stream.kafka.binder.brokers)');
  }

  const defaultBinder = stream.string('default-binder');
  if (defaultBinder !== undefined && binders[defaultBinder] === undefined) {
    throw stream.invalid('default-binder', `names no binder (binders: ${Object.keys(binders).join(', ')})`);
  }
  const candidates = Object.keys(binders).filter((name) => binders[name]!.defaultCandidate !== false);
  const fallbackBinder = defaultBinder ?? (candidates.length === 1 ? candidates[0] : undefined);

  const explicitDirections = new Map<string, Direction>();
  for (const name of stream.nameList('input-bindings') ?? []) explicitDirections.set(name, 'input');
  for (const name of stream.nameList('output-bindings') ?? []) explicitDirections.set(name, 'output');

  const instanceIndex = stream.integer('instance-index', 0);
  const instanceCount = stream.integer('instance-count', 1);
  const defaults = stream.child('default');
  const rabbitBindings = stream.child('rabbit').child('bindings');
  const kafkaBindings = stream.child('kafka').child('bindings');

  const bindings: Record<string, BindingConfig> = {};
  for (const name of bindingsSection.keys()) {
    bindings[name] = readBinding({
      section: bindingsSection.child(name),
      defaults,
      name,
      direction: explicitDirections.get(name) ?? directionFromName(name, bindingsSection.path),
      binders,
      fallbackBinder,
      global: { instanceIndex, instanceCount },
      rabbit: rabbitBindings.has(name) ? rabbitBindings.child(name) : undefined,
      kafka: kafkaBindings.has(name) ? kafkaBindings.child(name) : undefined,
    });
  }
  bindingsSection.done();
  rabbitBindings.done();
  kafkaBindings.done();
  defaults.markAll();
  stream.child('rabbit').done();
  stream.child('kafka').done();
  stream.done();
  spring.child('cloud').done();
  spring.done();
  root.done();

  return {
    binders: Object.fromEntries(Object.entries(binders).map(([name, b]) => [name, b.config])),
    ...(defaultBinder !== undefined && { defaultBinder }),
    bindings,
    http: { host: '127.0.0.1', port: 7070, opsHost: '0.0.0.0', opsPort: 7071 },
    warnings,
  };
}

// ---------------------------------------------------------------------------------------
// Binders

interface SpringBinder {
  config: BinderConfig;
  defaultCandidate?: boolean;
}

function readBinders(
  section: Props,
  topRabbit: Props,
  topKafka: { brokers: string[] } | undefined,
): Record<string, SpringBinder> {
  const binders: Record<string, SpringBinder> = {};
  for (const name of section.keys()) {
    const binder = section.child(name);
    const type = binder.oneOf('type', ['rabbit', 'kafka'] as const);
    if (type === undefined) throw binder.invalid('type', 'is required (rabbit or kafka)');
    const inherit = binder.boolean('inherit-environment') ?? true;
    const defaultCandidate = binder.boolean('default-candidate');
    const environment = binder.child('environment');
    const envSpring = environment.child('spring');
    let config: BinderConfig;
    if (type === 'rabbit') {
      config = rabbitBinder(name, envSpring.child('rabbitmq'), inherit ? topRabbit : undefined).config;
    } else {
      const own = kafkaBrokersOf(envSpring.child('cloud').child('stream'), envSpring);
      const brokers = own?.brokers ?? (inherit ? topKafka?.brokers : undefined) ?? ['localhost:9092'];
      config = kafkaBinder(name, brokers).config;
      envSpring.child('cloud').child('stream').child('kafka').done();
      envSpring.child('cloud').child('stream').done();
      envSpring.child('cloud').done();
    }
    envSpring.done();
    environment.done();
    binder.done();
    binders[name] = { config, ...(defaultCandidate !== undefined && { defaultCandidate }) };
  }
  section.done();
  return binders;
}

/**
 * A RabbitMQ binder from `spring.rabbitmq.*` keys. A binder's own environment wins over the
 * top-level `spring.rabbitmq.*` it inherits, key by key, as in Spring Cloud Stream.
 */
function rabbitBinder(name: string, own: Props, inherited: Props | undefined): SpringBinder {
  const pick = <T>(read: (p: Props) => T | undefined): T | undefined => {
    // Both are read, so that neither side's keys are reported as unknown.
    const fromInherited = inherited !== undefined && inherited !== own ? read(inherited) : undefined;
    return read(own) ?? fromInherited;
  };
  const firstAddress = pick((p) => p.stringList('addresses')?.[0]);
  const [addressHost, addressPort] = firstAddress !== undefined ? splitHostPort(firstAddress) : [undefined, undefined];
  const tls = pick((p) => p.child('ssl').boolean('enabled')) ?? false;
  const host = addressHost ?? pick((p) => p.string('host')) ?? 'localhost';
  const port = addressPort ?? pick((p) => p.integer('port', 1, 65535)) ?? (tls ? 5671 : 5672);
  const username = pick((p) => p.string('username')) ?? 'guest';
  const password = pick((p) => p.string('password')) ?? 'guest';
  const vhost = pick((p) => p.string('virtual-host')) ?? '/';
  own.child('ssl').done();
  own.done();
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const url = `${tls ? 'amqps' : 'amqp'}://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${hostPart}:${port}/${encodeURIComponent(vhost)}`;
  return { config: { name, type: 'rabbit', rabbit: { url } } };
}

function kafkaBinder(name: string, brokers: string[]): SpringBinder {
  return { config: { name, type: 'kafka', kafka: { brokers } } };
}

/** `spring.cloud.stream.kafka.binder.brokers`, else Spring Boot's `spring.kafka.bootstrap-servers`. */
function kafkaBrokersOf(stream: Props, spring: Props): { brokers: string[] } | undefined {
  const binder = stream.child('kafka').child('binder');
  const brokers = binder.stringList('brokers');
  const defaultPort = binder.integer('default-broker-port', 1, 65535) ?? 9092;
  binder.done();
  const bootstrap = spring.child('kafka').stringList('bootstrap-servers');
  spring.child('kafka').done();
  const list = brokers ?? bootstrap;
  if (list === undefined) return undefined;
  return { brokers: list.map((broker) => (/:\d+$/.test(broker) ? broker : `${broker}:${defaultPort}`)) };
}

function splitHostPort(address: string): [string, number | undefined] {
  const match = /^(.*):(\d+)$/.exec(address);
  return match ? [match[1]!, Number(match[2])] : [address, undefined];
}

// ---------------------------------------------------------------------------------------
// Bindings

function directionFromName(name: string, path: string): Direction {
  if (name === 'input' || /-in-\d+$/.test(name)) return 'input';
  if (name === 'output' || /-out-\d+$/.test(name)) return 'output';
  throw new ConfigError(
    `${joinPath(path, name)}: cannot tell whether binding "${name}" is an input or an output: name it input, output, <function>-in-<n> or <function>-out-<n>, or list it in spring.cloud.stream.input-bindings or output-bindings`,
  );
}

/** The binder a binding names; `binder: { defaultRabbit }` (a one-key mapping) is accepted as the seed writes it. */
function binderName(section: Props): string | undefined {
  const value = section.peek('binder');
  if (typeof value === 'string' && value !== '') return value;
  if (isRecord(value) && Object.keys(value).length === 1 && Object.values(value)[0] === null) return Object.keys(value)[0];
  return undefined;
}

interface BindingInput {
  section: Props;
  defaults: Props;
  name: string;
  direction: Direction;
  binders: Record<string, SpringBinder>;
  fallbackBinder: string | undefined;
  global: { instanceIndex: number | undefined; instanceCount: number | undefined };
  rabbit: Props | undefined;
  kafka: Props | undefined;
}

function readBinding(input: BindingInput): BindingConfig {
  const { section, defaults, name, direction, binders } = input;
  // `spring.cloud.stream.default.*` fills what the binding leaves out.
  const read = <T>(get: (p: Props) => T | undefined): T | undefined => get(section) ?? get(defaults);

  const destination = read((p) => p.string('destination')) ?? name;
  const groupValue = read((p) => p.string('group'));
  let group: string | undefined = groupValue;
  if (groupValue !== undefined && direction === 'output') {
    input.section.warn('group', 'ignored on an output binding (use producer.required-groups to provision a group)');
    group = undefined;
  }
  const contentType = read((p) => p.string('content-type')) ?? SPRING_DEFAULT_CONTENT_TYPE;

  let binder = binderName(section);
  if (section.has('binder')) {
    section.raw('binder');
    if (binder === undefined) throw section.invalid('binder', 'must be a binder name');
  }
  binder ??= input.fallbackBinder;
  if (binder === undefined) {
    throw section.invalid('binder', `is required when there are several binders and no spring.cloud.stream.default-binder (binders: ${Object.keys(binders).join(', ')})`);
  }
  if (binders[binder] === undefined) throw section.invalid('binder', `names no binder (binders: ${Object.keys(binders).join(', ')})`);
  const binderType = binders[binder]!.config.type;

  const producer = readProducer(section.child('producer'), defaults.child('producer'));
  const consumer = readConsumer(section.child('consumer'), defaults.child('consumer'), input.global);

  // Spring Cloud Stream's dead-letter switches are per broker (and off by default, as
  // Bindery's are), and a group queue's arguments depend on them: a Bindery binding declares
  // the queue exactly as the Spring service beside it does, so only the switch of the
  // binding's own broker counts, for consumers and for a producer's required groups alike.
  const rabbitConsumer = input.rabbit?.child('consumer');
  const rabbitDlq = rabbitConsumer?.boolean('auto-bind-dlq');
  const kafkaConsumer = input.kafka?.child('consumer');
  const kafkaDlq = kafkaConsumer?.boolean('enable-dlq');
  const startOffset = kafkaConsumer?.oneOf('start-offset', ['earliest', 'latest'] as const);
  if (startOffset !== undefined) consumer.startOffset = startOffset;
  if (binderType === 'rabbit' && rabbitDlq !== undefined) consumer.deadLetter = rabbitDlq;
  if (binderType === 'kafka' && kafkaDlq !== undefined) consumer.deadLetter = kafkaDlq;
  const producerDlq = input.rabbit?.child('producer').boolean('auto-bind-dlq');
  if (binderType === 'rabbit' && producerDlq !== undefined) producer.deadLetter = producerDlq;
  const messageKey = input.kafka?.child('producer').string('message-key-expression');
  if (messageKey !== undefined) {
    try {
      compileExpression(messageKey);
    } catch (error) {
      throw input.kafka!.child('producer').invalid('message-key-expression', (error as Error).message);
    }
    if (binderType === 'kafka') producer.messageKeyExpression = messageKey;
  }
  // The other broker's settings stay read (not warned about): a file prepared for a
  // switch of binder carries both.
  for (const extension of [input.rabbit, input.kafka]) {
    extension?.child('consumer').done();
    extension?.child('producer').done();
    extension?.done();
  }

  section.done();
  return {
    name,
    direction,
    destination,
    ...(group !== undefined && direction === 'input' && { group }),
    binder,
    contentType,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    producer,
    consumer,
  };
}

function readProducer(section: Props, defaults: Props): ProducerConfig {
  const producer = defaultProducer();
  const read = <T>(get: (p: Props) => T | undefined): T | undefined => get(section) ?? get(defaults);
  const expression = read((p) => {
    const value = p.string('partition-key-expression');
    if (value === undefined) return undefined;
    try {
      compileExpression(value);
    } catch (error) {
      throw p.invalid('partition-key-expression', (error as Error).message);
    }
    return value;
  });
  if (expression !== undefined) producer.partitionKeyExpression = expression;
  producer.partitionCount = read((p) => p.integer('partition-count', 1)) ?? producer.partitionCount;
  producer.partitionSelector = read((p) => p.oneOf('partition-selector', ['javaHash', 'murmur2'] as const)) ?? producer.partitionSelector;
  producer.requiredGroups = read((p) => p.stringList('required-groups')) ?? producer.requiredGroups;
  section.done();
  return producer;
}

function readConsumer(
  section: Props,
  defaults: Props,
  global: { instanceIndex: number | undefined; instanceCount: number | undefined },
): ConsumerConfig {
  const consumer = defaultConsumer();
  const read = <T>(get: (p: Props) => T | undefined): T | undefined => get(section) ?? get(defaults);
  consumer.maxAttempts = read((p) => p.integer('max-attempts', 1)) ?? consumer.maxAttempts;
  consumer.backOffInitialInterval = read((p) => p.integer('back-off-initial-interval', 0)) ?? consumer.backOffInitialInterval;
  consumer.backOffMultiplier = read((p) => p.number('back-off-multiplier', 1)) ?? consumer.backOffMultiplier;
  consumer.backOffMaxInterval = read((p) => p.integer('back-off-max-interval', 0)) ?? consumer.backOffMaxInterval;
  consumer.concurrency = read((p) => p.integer('concurrency', 1)) ?? consumer.concurrency;
  consumer.partitioned = read((p) => p.boolean('partitioned')) ?? consumer.partitioned;
  // -1 is Spring Cloud Stream's "use the global spring.cloud.stream.instance-index".
  const index = read((p) => p.integer('instance-index', -1));
  const count = read((p) => p.integer('instance-count', -1));
  consumer.instanceIndex = index !== undefined && index >= 0 ? index : (global.instanceIndex ?? consumer.instanceIndex);
  consumer.instanceCount = count !== undefined && count >= 1 ? count : (global.instanceCount ?? consumer.instanceCount);
  section.done();
  if (consumer.backOffMaxInterval < consumer.backOffInitialInterval) {
    throw section.invalid('back-off-max-interval', 'must be >= back-off-initial-interval');
  }
  if (consumer.instanceIndex >= consumer.instanceCount) {
    throw section.invalid('instance-index', `must be lower than instance-count (${consumer.instanceCount})`);
  }
  return consumer;
}
