import { describe, expect, it } from 'vitest';
import { applyOverrides, overridesFrom, parseConfig } from '../../../../runtime/src/config/load.ts';
import type { RuntimeConfig } from '../../../../runtime/src/config/model.ts';

const base = `
binders:
  local-rabbit: { type: rabbit, rabbit: { url: "amqp://guest:guest@127.0.0.1:5672" } }
  embedded: { type: memory }
defaultBinder: local-rabbit
bindings:
  output: { direction: output, destination: studyExchange, contentType: application/json }
  input:  { direction: input, destination: studyExchange, group: atguiguA }
app: { port: 8802 }
http: { port: 7070, opsPort: 7071 }
`;

const load = (text: string, env: Record<string, string> = {}) => parseConfig(text, 'bindery.yaml', { env });

describe('parseConfig: the SPEC section 6 example', () => {
  it('resolves binders, bindings, defaults, app and http', async () => {
    const config = await load(base);
    expect(Object.keys(config.binders)).toEqual(['local-rabbit', 'embedded']);
    expect(config.binders['local-rabbit']).toEqual({ name: 'local-rabbit', type: 'rabbit', rabbit: { url: 'amqp://guest:guest@127.0.0.1:5672' } });
    expect(config.bindings.input).toMatchObject({
      name: 'input',
      direction: 'input',
      destination: 'studyExchange',
      group: 'atguiguA',
      binder: 'local-rabbit',
      contentType: 'application/json',
      maxMessageBytes: 1024 * 1024,
      consumer: { concurrency: 1, maxAttempts: 3, backOffInitialInterval: 1000, backOffMultiplier: 2, backOffMaxInterval: 10000, deadLetter: false },
    });
    expect(config.bindings.output!.group).toBeUndefined();
    expect(config.app).toEqual({ port: 8802, host: '127.0.0.1' });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 7070, opsHost: '0.0.0.0', opsPort: 7071 });
    expect(config.warnings).toEqual([]);
  });
});

describe('parseConfig: errors name the key', () => {
  it.each([
    ['bindings: { input: { direction: input, consumer: { maxAttempts: 0 } } }', 'bindings.input.consumer.maxAttempts: must be an integer >= 1'],
    ['bindings: { input: { direction: input, consumer: { maxAttempts: "x" } } }', 'bindings.input.consumer.maxAttempts: must be an integer >= 1'],
    ['bindings: { input: { direction: input, consumer: { concurrency: 1.5 } } }', 'bindings.input.consumer.concurrency: must be an integer >= 1'],
    ['bindings: { input: { direction: sideways } }', 'bindings.input.direction: must be one of input, output'],
    ['bindings: { input: { destination: d } }', 'bindings.input.direction: is required'],
    ['bindings: { out: { direction: output, group: g } }', 'bindings.out.group: only input bindings have a group'],
    ['bindings: { input: { direction: input, binder: nope } }', 'bindings.input.binder: names no binder'],
    ['bindings: { input: { direction: input, consumer: { deadLetter: maybe } } }', 'bindings.input.consumer.deadLetter: must be true or false'],
    ['bindings: { input: { direction: input, consumer: { path: input } } }', 'bindings.input.consumer.path: must start with /'],
    ['bindings: { input: { direction: input, consumer: { backOffInitialInterval: 500, backOffMaxInterval: 100 } } }', 'bindings.input.consumer.backOffMaxInterval: must be >= backOffInitialInterval'],
    ['bindings: { o: { direction: output, producer: { partitionCount: 0 } } }', 'bindings.o.producer.partitionCount: must be an integer >= 1'],
    ['bindings: { o: { direction: output, producer: { partitionSelector: crc } } }', 'bindings.o.producer.partitionSelector: must be one of javaHash, murmur2'],
    ['bindings: { o: { direction: output, producer: { partitionKeyExpression: "payload.(" } } }', 'bindings.o.producer.partitionKeyExpression:'],
    ['bindings: { o: { direction: output, maxMessageBytes: -1 } }', 'bindings.o.maxMessageBytes: must be an integer >= 1'],
    ['app: { port: 70000 }', 'app.port: must be an integer from 1 to 65535'],
    ['bindings: []', 'bindings: must be a mapping'],
  ])('%s', async (fragment, message) => {
    const text = `binders: { m: { type: memory } }\n${fragment}`;
    await expect(load(text)).rejects.toThrow(message);
  });

  it.each([
    ['binders: {}', 'binders: at least one binder is required'],
    ['binders: { x: { type: redis } }', 'binders.x.type: must be one of memory, rabbit, kafka'],
    ['binders: { x: {} }', 'binders.x.type: is required'],
    ['binders: { k: { type: kafka, kafka: {} } }', 'binders.k.kafka.brokers: is required'],
    ['binders: { r: { type: rabbit, rabbit: { url: "http://x" } } }', 'binders.r.rabbit.url: must start with amqp:// or amqps://'],
    ['binders: { r: { type: rabbit, rabbit: { url: "amqp://x", host: y } } }', 'binders.r.rabbit.host: give either url or'],
    ['binders: { a: { type: memory }, b: { type: memory } }\nbindings: { o: { direction: output } }', 'bindings.o.binder: is required when there are several binders'],
    ['binders: { a: { type: memory } }\ndefaultBinder: b', 'defaultBinder: names no binder'],
    ['binders: [', 'bindery.yaml: not valid YAML'],
  ])('%s', async (text, message) => {
    await expect(load(text)).rejects.toThrow(message);
  });
});

describe('parseConfig: a file that is not YAML', () => {
  it.each([
    ['an unterminated quote after a URL with a password', 'binders:\n  r: { type: rabbit, rabbit: { url: "amqp://admin:s3cr3t-pw@rabbit:5672 } }\n', 'line 3, column 1'],
    ['a misindented line below a password', 'binders:\n  r:\n    type: rabbit\n    rabbit:\n      username: admin\n      password: s3cr3t-pw\n     host: x\n', 'line 7, column 1'],
    ['a Spring file with a password', 'spring:\n  rabbitmq:\n    password: s3cr3t-pw\n   host: x\n', 'line 4, column 1'],
  ])('%s: says where, and never prints the lines around it', async (_name, text, where) => {
    const error = await load(text).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`bindery.yaml: not valid YAML at ${where}`);
    expect((error as Error).message).not.toContain('s3cr3t-pw');
  });
});

describe('parseConfig: only the selected bindings of a shared file are validated', () => {
  const shared = `
binders:
  mine: { type: memory }
  theirs: { type: rabbit, rabbit: { url: "\${THEIR_URL}" } }
  typo: { type: redis }
bindings:
  input: { direction: input, binder: mine }
  broken: { direction: sideways, binder: theirs }
`;
  it('ignores other bindings and unused broken binders, with a warning', async () => {
    const config = await parseConfig(shared, 'cm.yaml', { env: {}, overrides: { bindings: ['input'] } });
    expect(Object.keys(config.bindings)).toEqual(['input']);
    expect(Object.keys(config.binders)).toEqual(['mine']);
    expect(config.warnings).toEqual([
      'binders.theirs.rabbit.url: environment variable THEIR_URL is not set (binder theirs is not used here, ignored)',
      'binders.typo.type: must be one of memory, rabbit, kafka (binder typo is not used here, ignored)',
    ]);
  });

  it.each([
    [['broken'], 'bindings.broken.direction: must be one of input, output'],
    [undefined, 'bindings.broken.direction: must be one of input, output'],
    [['input', 'broken'], 'bindings.broken.direction: must be one of input, output'],
  ])('still fails on what is used (selection %j)', async (bindings, message) => {
    await expect(parseConfig(shared, 'cm.yaml', { env: {}, ...(bindings && { overrides: { bindings } }) })).rejects.toThrow(message);
  });
});

describe('parseConfig: environment variables', () => {
  it('without a selection, a broken binder fails even when no binding uses it', async () => {
    await expect(load('binders: { m: { type: memory }, r: { type: rabbit, rabbit: { url: "${GONE}" } } }')).rejects.toThrow(
      'binders.r.rabbit.url: environment variable GONE is not set',
    );
  });

  it.each([
    ['${HOST}', { HOST: 'rabbit.svc' }, 'amqp://u:p@rabbit.svc:5672/%2F'],
    ['${HOST:-fallback}', {}, 'amqp://u:p@fallback:5672/%2F'],
    ['${HOST:-fallback}', { HOST: 'given' }, 'amqp://u:p@given:5672/%2F'],
  ])('host %s with %j gives %s', async (host, env, url) => {
    const config = await load(`binders: { r: { type: rabbit, rabbit: { host: "${host}", username: u, password: p } } }`, env);
    expect(config.binders.r!.rabbit!.url).toBe(url);
  });

  it('names a missing variable and where it is used', async () => {
    await expect(load('binders: { r: { type: rabbit, rabbit: { url: "amqp://${RABBIT_USER}@h" } } }')).rejects.toThrow(
      'binders.r.rabbit.url: environment variable RABBIT_USER is not set',
    );
  });

  it('expands the connection settings and credentials of every binder type', async () => {
    const env = { HOST: 'rabbit.svc', PORT: '5671', VHOST: 'v', USER: 'u', PASS: 'p', KAFKA: 'k:9092', SASL_USER: 'su', SASL_PASS: 'sp', URL: 'amqp://x:y@z:1/w' };
    const config = await load(`binders:
  r: { type: rabbit, rabbit: { host: "\${HOST}", port: "\${PORT}", vhost: "\${VHOST}", username: "\${USER}", password: "\${PASS}" } }
  u: { type: rabbit, rabbit: { url: "\${URL}" } }
  k: { type: kafka, kafka: { brokers: ["\${KAFKA}"], sasl: { username: "\${SASL_USER}", password: "\${SASL_PASS}" } } }`, env);
    expect(config.binders.r!.rabbit!.url).toBe('amqp://u:p@rabbit.svc:5671/v');
    expect(config.binders.u!.rabbit!.url).toBe('amqp://x:y@z:1/w');
    expect(config.binders.k!.kafka).toMatchObject({ brokers: ['k:9092'], sasl: { username: 'su', password: 'sp' } });
  });

  it.each([
    ['contentType', 'contentType: "${SECRET}"', (c: RuntimeConfig) => c.bindings.out!.contentType],
    ['destination', 'destination: "${SECRET}"', (c: RuntimeConfig) => c.bindings.out!.destination],
    ['a partition key expression', 'producer: { partitionKeyExpression: "\'${SECRET}\'" }', (c: RuntimeConfig) => c.bindings.out!.producer.partitionKeyExpression],
  ])('takes %s as written, never from the environment', async (_name, fragment, read) => {
    const config = await load(`binders: { m: { type: memory } }\nbindings: { out: { direction: output, ${fragment} } }`, { SECRET: 'hunter2' });
    expect(read(config)).toContain('${SECRET}');
    expect(JSON.stringify(config)).not.toContain('hunter2');
  });

  it('a Spring application.yml keeps Spring\'s placeholders everywhere: it is its owner\'s own file', async () => {
    const config = await load('spring: { cloud: { stream: { bindings: { output: { destination: "${TOPIC}" } } } }, rabbitmq: { host: localhost } }', { TOPIC: 'orders' });
    expect(config.bindings.output!.destination).toBe('orders');
  });
});

describe('parseConfig: RabbitMQ given by its parts', () => {
  it.each([
    [{}, 'amqp://guest:guest@localhost:5672/%2F'],
    [{ host: 'mq', port: 5673, vhost: 'prod', username: 'app', password: 'p@ss:w/rd' }, 'amqp://app:p%40ss%3Aw%2Frd@mq:5673/prod'],
    [{ host: 'mq', tls: true, vhost: '/team a' }, 'amqps://guest:guest@mq:5671/%2Fteam%20a'],
    [{ host: '::1' }, 'amqp://guest:guest@[::1]:5672/%2F'],
  ])('%j -> %s', async (parts, url) => {
    const config = await load(`binders: { r: { type: rabbit, rabbit: ${JSON.stringify(parts)} } }`);
    expect(config.binders.r!.rabbit!.url).toBe(url);
  });
});

describe('parseConfig: unknown keys are warnings', () => {
  it('collects each unknown key with its path, once', async () => {
    const config = await load(`
binders: { m: { type: memory, colour: blue } }
bindings: { input: { direction: input, consumer: { maxAtempts: 5 } } }
extra: 1
`);
    expect(config.warnings).toEqual([
      'binders.m.colour: unknown key, ignored',
      'bindings.input.consumer.maxAtempts: unknown key, ignored',
      'extra: unknown key, ignored',
    ]);
  });
});

describe('parseConfig: Spring files', () => {
  it('hands a document with a top-level spring key to the Spring loader', async () => {
    const text = `
spring:
  cloud:
    stream:
      binders:
        defaultRabbit:
          type: rabbit
          environment: { spring: { rabbitmq: { host: localhost, port: 5672, username: guest, password: guest } } }
      bindings:
        output: { destination: studyExchange, content-type: application/json, binder: defaultRabbit }
`;
    const config = await load(text);
    expect(config.bindings.output).toMatchObject({ direction: 'output', destination: 'studyExchange', binder: 'defaultRabbit' });
    expect(config.binders.defaultRabbit!.type).toBe('rabbit');
  });
});

describe('overrides from flags and environment', () => {
  it.each([
    [{ bindings: 'input' }, {}, { bindings: ['input'] }],
    [{}, { BINDERY_BINDINGS: 'a, b' }, { bindings: ['a', 'b'] }],
    [{ appPort: '9000' }, { BINDERY_APP_PORT: '8000' }, { appPort: 9000 }],
    [{}, { BINDERY_APP_PORT: '8000' }, { appPort: 8000 }],
    [{ port: '0', opsPort: '17071' }, {}, { port: 0, opsPort: 17071 }],
    [{}, { BINDERY_INSTANCE_INDEX: '1', BINDERY_INSTANCE_COUNT: '3' }, { instanceIndex: 1, instanceCount: 3 }],
  ])('flags %j env %j', (flags, env, expected) => {
    expect(overridesFrom(flags, env)).toEqual(expected);
  });

  it.each([
    [{ appPort: 'x' }, {}, '--app-port: must be an integer >= 1'],
    [{ port: '70000' }, {}, '--port: must be a port number'],
    [{}, { BINDERY_INSTANCE_COUNT: '0' }, 'BINDERY_INSTANCE_COUNT: must be an integer >= 1'],
  ])('refuses flags %j env %j', (flags, env, message) => {
    expect(() => overridesFrom(flags, env)).toThrow(message);
  });

  it('narrows bindings, sets the app port, the ports and the instance of every input', async () => {
    const config = applyOverrides(await load(base), { bindings: ['input'], appPort: 9001, port: 0, opsPort: 0, instanceIndex: 1, instanceCount: 2 });
    expect(Object.keys(config.bindings)).toEqual(['input']);
    expect(config.app).toEqual({ port: 9001, host: '127.0.0.1' });
    expect(config.http).toMatchObject({ port: 0, opsPort: 0 });
    expect(config.bindings.input!.consumer).toMatchObject({ instanceIndex: 1, instanceCount: 2 });
  });

  it('names bindings the file does not have', async () => {
    const config = await load(base);
    expect(() => applyOverrides(config, { bindings: ['nope'] })).toThrow('--bindings: nope not in the configuration');
  });
});
