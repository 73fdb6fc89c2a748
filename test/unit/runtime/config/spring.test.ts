import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../../../runtime/src/config/load.ts';
import { defaultConsumer, defaultProducer } from '../../../../runtime/src/config/model.ts';
import { fromSpring } from '../../../../runtime/src/config/spring.ts';

const load = (yaml: string) => fromSpring(parse(yaml), 'application.yml');
const seed = readFileSync(new URL('./seed-application.yml', import.meta.url), 'utf8');

describe('fromSpring: the seed file', () => {
  const config = load(seed);

  it('has the defaultRabbit binder from its environment', () => {
    expect(config.binders).toEqual({
      defaultRabbit: { name: 'defaultRabbit', type: 'rabbit', rabbit: { url: 'amqp://guest:guest@localhost:5672/%2F' } },
    });
  });

  it('has the output and the input on studyExchange, the input in group atguiguA', () => {
    expect(config.bindings).toEqual({
      output: {
        name: 'output',
        direction: 'output',
        destination: 'studyExchange',
        binder: 'defaultRabbit',
        contentType: 'application/json',
        maxMessageBytes: 1024 * 1024,
        producer: defaultProducer(),
        consumer: { ...defaultConsumer(), deadLetter: false },
      },
      input: {
        name: 'input',
        direction: 'input',
        destination: 'studyExchange',
        group: 'atguiguA',
        binder: 'defaultRabbit',
        contentType: 'application/json',
        maxMessageBytes: 1024 * 1024,
        producer: defaultProducer(),
        consumer: { ...defaultConsumer(), deadLetter: false },
      },
    });
  });

  it('warns once about each key it ignores, server.port included', () => {
    expect(config.warnings).toEqual([
      "server.port: the application's own port, ignored by the sidecar (the push target is app.port or --app-port)",
      'spring.application: unknown key, ignored',
      'eureka: unknown key, ignored',
    ]);
  });

  it('keeps the default HTTP ports', () => {
    expect(config.http).toEqual({ host: '127.0.0.1', port: 7070, opsHost: '0.0.0.0', opsPort: 7071 });
  });
});

const binders = (yaml: string) => Object.values(load(yaml).binders);

describe('fromSpring: binders', () => {
  it.each([
    [
      'two binders in one file, rabbit with every environment key',
      `spring.cloud.stream:
  binders:
    r1: { type: rabbit, environment: { spring: { rabbitmq: { host: mq, port: 5673, username: u, password: 'p@ss', virtual-host: /prod } } } }
    k1: { type: kafka, environment: { spring.cloud.stream.kafka.binder.brokers: 'k1:9092,k2' } }
  default-binder: r1
  bindings: { output: { destination: d } }`,
      [
        { name: 'r1', type: 'rabbit', rabbit: { url: 'amqp://u:p%40ss@mq:5673/%2Fprod' } },
        { name: 'k1', type: 'kafka', kafka: { brokers: ['k1:9092', 'k2:9092'] } },
      ],
    ],
    [
      'top-level spring.rabbitmq as the implicit binder "rabbit"',
      `spring: { rabbitmq: { host: h, virtualHost: v }, cloud.stream.bindings.output.destination: d }`,
      [{ name: 'rabbit', type: 'rabbit', rabbit: { url: 'amqp://guest:guest@h:5672/v' } }],
    ],
    [
      'top-level kafka brokers as the implicit binder "kafka"',
      `spring.cloud.stream: { kafka.binder.brokers: [a:1, b:2], bindings.output.destination: d }`,
      [{ name: 'kafka', type: 'kafka', kafka: { brokers: ['a:1', 'b:2'] } }],
    ],
    [
      "Spring Boot's spring.kafka.bootstrap-servers",
      `spring: { kafka.bootstrap-servers: 'b:9093', cloud.stream.bindings.output.destination: d }`,
      [{ name: 'kafka', type: 'kafka', kafka: { brokers: ['b:9093'] } }],
    ],
    [
      'a binder inherits top-level spring.rabbitmq keys it does not set',
      `spring:
  rabbitmq: { username: shared, password: secret }
  cloud.stream.binders.mine: { type: rabbit, environment.spring.rabbitmq.host: own }
  cloud.stream.bindings.output.destination: d`,
      [{ name: 'mine', type: 'rabbit', rabbit: { url: 'amqp://shared:secret@own:5672/%2F' } }],
    ],
    [
      'addresses and ssl',
      `spring.cloud.stream.binders.s: { type: rabbit, environment.spring.rabbitmq: { addresses: 'a1:5999,a2:5999', ssl.enabled: true } }
spring.cloud.stream.bindings.output.destination: d`,
      [{ name: 's', type: 'rabbit', rabbit: { url: 'amqps://guest:guest@a1:5999/%2F' } }],
    ],
    [
      'a binder named by type alone in a binding',
      `spring.cloud.stream.bindings.output: { destination: d, binder: kafka }`,
      [{ name: 'kafka', type: 'kafka', kafka: { brokers: ['localhost:9092'] } }],
    ],
  ])('%s', (_name, yaml, expected) => {
    expect(binders(yaml)).toEqual(expected);
  });

  it('chooses the binder of each binding: its own, default-binder, or the only one', () => {
    const config = load(`spring.cloud.stream:
  binders: { r: { type: rabbit }, k: { type: kafka } }
  default-binder: k
  bindings: { output: { destination: a }, input: { destination: b, binder: r } }`);
    expect(config.defaultBinder).toBe('k');
    expect(config.bindings.output!.binder).toBe('k');
    expect(config.bindings.input!.binder).toBe('r');
  });
});

const binding = (yaml: string, name = 'input') => load(yaml).bindings[name]!;

describe('fromSpring: bindings', () => {
  const base = `spring.cloud.stream.binders.r.type: rabbit\nspring.cloud.stream.binders.k.type: kafka\nspring.cloud.stream.default-binder: r\n`;

  it.each([
    ['input', 'input'],
    ['output', 'output'],
    ['uppercase-in-0', 'input'],
    ['uppercase-out-12', 'output'],
  ])('%s is an %s', (name, direction) => {
    expect(binding(`${base}spring.cloud.stream.bindings.${name}.destination: d`, name).direction).toBe(direction);
  });

  it('takes directions from spring.cloud.stream.input-bindings / output-bindings', () => {
    const config = load(`${base}spring.cloud.stream:
  input-bindings: orders;audit
  output-bindings: [events]
  bindings: { orders: { group: g }, audit: {}, events: {} }`);
    expect(Object.values(config.bindings).map((b) => [b.name, b.direction, b.destination])).toEqual([
      ['orders', 'input', 'orders'],
      ['audit', 'input', 'audit'],
      ['events', 'output', 'events'],
    ]);
  });

  it('reads every consumer key, kebab-case and camelCase alike', () => {
    const kebab = binding(`${base}spring.cloud.stream.bindings.input:
  destination: d
  group: g
  consumer: { max-attempts: 5, back-off-initial-interval: 10, back-off-multiplier: 1.5, back-off-max-interval: 100, concurrency: 4, partitioned: true, instance-index: 1, instance-count: 3 }`);
    const camel = binding(`${base}spring.cloud.stream.bindings.input:
  destination: d
  group: g
  consumer: { maxAttempts: 5, backOffInitialInterval: 10, backOffMultiplier: 1.5, backOffMaxInterval: 100, concurrency: 4, partitioned: true, instanceIndex: 1, instanceCount: 3 }`);
    const expected = {
      ...defaultConsumer(),
      maxAttempts: 5,
      backOffInitialInterval: 10,
      backOffMultiplier: 1.5,
      backOffMaxInterval: 100,
      concurrency: 4,
      partitioned: true,
      instanceIndex: 1,
      instanceCount: 3,
      deadLetter: false,
    };
    expect(kebab.consumer).toEqual(expected);
    expect(camel.consumer).toEqual(expected);
  });

  it('reads every producer key', () => {
    const output = binding(`${base}spring.cloud.stream.bindings.output:
  destination: d
  producer: { partition-key-expression: "headers['userId']", partition-count: 4, required-groups: [a, b] }`, 'output');
    expect(output.producer).toEqual({
      ...defaultProducer(),
      partitionKeyExpression: "headers['userId']",
      partitionCount: 4,
      requiredGroups: ['a', 'b'],
    });
  });

  it.each([
    ['rabbit auto-bind-dlq', 'r', 'spring.cloud.stream.rabbit.bindings.input.consumer.auto-bind-dlq: true', { deadLetter: true }],
    ['rabbit autoBindDlq false', 'r', 'spring.cloud.stream.rabbit.bindings.input.consumer.autoBindDlq: false', { deadLetter: false }],
    ['kafka enable-dlq', 'k', 'spring.cloud.stream.kafka.bindings.input.consumer.enable-dlq: true', { deadLetter: true }],
    ['kafka start-offset', 'k', 'spring.cloud.stream.kafka.bindings.input.consumer.start-offset: latest', { startOffset: 'latest' }],
    ['the other broker\'s switch has no effect', 'k', 'spring.cloud.stream.rabbit.bindings.input.consumer.auto-bind-dlq: true', { deadLetter: false }],
    ['no switch: no DLQ, as in Spring Cloud Stream', 'r', '', { deadLetter: false }],
  ])('%s', (_name, binder, line, expected) => {
    const config = load(`${base}spring.cloud.stream.bindings.input: { destination: d, group: g, binder: ${binder} }\n${line}`);
    expect(config.bindings.input!.consumer).toMatchObject(expected);
    expect(config.warnings).toEqual([]);
  });

  it.each([
    ['rabbit producer auto-bind-dlq: required groups with dead letters', 'r', 'spring.cloud.stream.rabbit.bindings.output.producer.auto-bind-dlq: true', { deadLetter: true }],
    ['no switch: required groups without dead letters, as in Spring Cloud Stream', 'r', '', { deadLetter: false }],
    ['kafka message-key-expression', 'k', "spring.cloud.stream.kafka.bindings.output.producer.message-key-expression: headers['orderId']", { messageKeyExpression: "headers['orderId']" }],
    ['kafka messageKeyExpression, camelCase', 'k', 'spring.cloud.stream.kafka.bindings.output.producer.messageKeyExpression: payload.id', { messageKeyExpression: 'payload.id' }],
  ])('%s', (_name, binder, line, expected) => {
    const config = load(`${base}spring.cloud.stream.bindings.output: { destination: d, binder: ${binder}, producer.required-groups: g }\n${line}`);
    expect(config.bindings.output!.producer).toMatchObject(expected);
    expect(config.warnings).toEqual([]);
  });

  it('a Kafka message key expression has no effect on a rabbit binding', () => {
    const config = load(`${base}spring.cloud.stream.bindings.output: { destination: d, binder: r }
spring.cloud.stream.kafka.bindings.output.producer.message-key-expression: payload.id`);
    expect(config.bindings.output!.producer.messageKeyExpression).toBeUndefined();
  });

  it('fills what a binding leaves out from spring.cloud.stream.default and the global instance index', () => {
    const config = load(`${base}spring.cloud.stream:
  instance-index: 2
  instance-count: 4
  default: { group: shared, content-type: text/plain, consumer: { max-attempts: 7 } }
  bindings: { input: { destination: d, consumer: { concurrency: 2 } } }`);
    expect(config.bindings.input).toMatchObject({
      group: 'shared',
      contentType: 'text/plain',
      consumer: { maxAttempts: 7, concurrency: 2, instanceIndex: 2, instanceCount: 4 },
    });
  });

  it('warns about a group on an output and keys it does not know, each once', () => {
    const config = load(`${base}spring.cloud.stream:
  bindings:
    output: { destination: d, group: g, producer: { header-mode: none } }
    input: { destination: d, consumer: { auto-startup: false } }
  rabbit.bindings.input.consumer.prefetch: 10
  kafka.binder.replication-factor: 3`);
    expect(config.bindings.output!.group).toBeUndefined();
    expect(config.warnings).toEqual([
      'spring.cloud.stream.kafka.binder.replication-factor: unknown key, ignored',
      'spring.cloud.stream.bindings.output.group: ignored on an output binding (use producer.required-groups to provision a group)',
      'spring.cloud.stream.bindings.output.producer.header-mode: unknown key, ignored',
      'spring.cloud.stream.bindings.input.consumer.auto-startup: unknown key, ignored',
      'spring.cloud.stream.rabbit.bindings.input.consumer.prefetch: unknown key, ignored',
    ]);
  });
});

describe('fromSpring: invalid values name the key', () => {
  const base = `spring.cloud.stream.binders.r.environment.spring.rabbitmq.password: topsecret\nspring.cloud.stream.binders.r.type: rabbit\n`;

  it.each([
    ['consumer.max-attempts: 0', /application.yml: spring.cloud.stream.bindings.input.consumer.max-attempts: must be an integer >= 1/],
    ['consumer.maxAttempts: three', /spring.cloud.stream.bindings.input.consumer.maxAttempts: must be an integer >= 1/],
    ['consumer.back-off-multiplier: 0.5', /consumer.back-off-multiplier: must be a number >= 1/],
    ['consumer: { back-off-initial-interval: 500, back-off-max-interval: 100 }', /consumer.back-off-max-interval: must be >= back-off-initial-interval/],
    ['consumer: { instance-index: 3, instance-count: 3 }', /consumer.instance-index: must be lower than instance-count \(3\)/],
    ['consumer.partitioned: maybe', /consumer.partitioned: must be true or false/],
    ['producer.partition-count: -1', /producer.partition-count: must be an integer >= 1/],
    ["producer.partition-key-expression: payload.id +", /producer.partition-key-expression: expected a value but the expression ended at position 12/],
    ['producer.partition-key-expression: T(Runtime).exec()', /producer.partition-key-expression: unknown name "T"/],
    ['binder: r\nspring.cloud.stream.kafka.bindings.input.producer.message-key-expression: payload.', /spring.cloud.stream.kafka.bindings.input.producer.message-key-expression: expected a property name/],
    ['binder: nope', /spring.cloud.stream.bindings.input.binder: names no binder \(binders: r\)/],
    ['binder: [a, b]', /spring.cloud.stream.bindings.input.binder: must be a binder name/],
    ['consumer: 5', /spring.cloud.stream.bindings.input.consumer: must be a mapping/],
  ])('%s', (line, message) => {
    const yaml = `${base}spring.cloud.stream.bindings.input.${line}`;
    expect(() => load(yaml)).toThrow(ConfigError);
    expect(() => load(yaml)).toThrow(message);
    expect(() => load(yaml)).not.toThrow(/topsecret/);
  });

  it.each([
    ['a binding whose direction cannot be told', `${base}spring.cloud.stream.bindings.orders.destination: d`, /spring.cloud.stream.bindings.orders: cannot tell whether binding "orders" is an input or an output/],
    ['a binder without a type', 'spring.cloud.stream.binders.x.environment.spring.rabbitmq.host: h', /spring.cloud.stream.binders.x.type: is required \(rabbit or kafka\)/],
    ['a binder of an unknown type', 'spring.cloud.stream.binders.x.type: pulsar', /spring.cloud.stream.binders.x.type: must be one of rabbit, kafka/],
    ['a default-binder that names nothing', `${base}spring.cloud.stream.default-binder: other`, /spring.cloud.stream.default-binder: names no binder/],
    ['no binder at all', 'spring.cloud.stream.bindings.output.destination: d', /no binder configured/],
    ['several binders and no default', 'spring.cloud.stream: { binders: { a: { type: rabbit }, b: { type: kafka } }, bindings.output.destination: d }', /bindings.output.binder: is required when there are several binders/],
    ['a port that is not one', 'spring: { rabbitmq.port: 70000, cloud.stream.bindings.output.destination: d }', /spring.rabbitmq.port: must be an integer from 1 to 65535/],
    ['the same key twice', `${base}spring.cloud.stream.bindings.input.consumer: { max-attempts: 2, maxAttempts: 3 }`, /consumer.maxAttempts: given twice \(also as max-attempts\)/],
  ])('%s', (_name, yaml, message) => {
    expect(() => load(yaml)).toThrow(message);
  });
});

describe('the runtime loader hands a Spring file to fromSpring', () => {
  it('reads the seed file through parseConfig, with ${ENV} expansion and overrides applied', async () => {
    const { parseConfig } = await import('../../../../runtime/src/config/load.ts');
    const text = seed.replace('password: guest', 'password: ${RABBIT_PASSWORD}');
    const config = await parseConfig(text, 'application.yml', { env: { RABBIT_PASSWORD: 's3cret' }, overrides: { appPort: 8802 } });
    expect(config.binders.defaultRabbit?.rabbit?.url).toBe('amqp://guest:s3cret@localhost:5672/%2F');
    expect(config.bindings.input).toMatchObject({ direction: 'input', destination: 'studyExchange', group: 'atguiguA', binder: 'defaultRabbit' });
    expect(config.app).toEqual({ port: 8802, host: '127.0.0.1' });
  });
});
