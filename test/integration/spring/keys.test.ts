/**
 * Keys as a Spring Cloud Stream producer and a Bindery sidecar compute them, side by side on the
 * real brokers (SPEC section 2): `partitionKeyExpression: payload.id` picks the same partition
 * for integers, longs, fractions, booleans and strings, on Kafka and on RabbitMQ; and a Kafka
 * record key (`x-message-key`, `producer.messageKeyExpression`) is written as Spring writes it
 * and lands on the partition Kafka's own partitioner gives Spring's record with that key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { prepareSpringApp, SpringApp, springAppBuildTimeoutMs } from '../../support/spring-app.ts';
import { waitFor } from '../../support/wait.ts';
import { rawKafka } from '../kafka/support.ts';
import { rawRabbit, type RawRabbit } from '../rabbit/support.ts';
import { deleteRabbitObjects, send, sidecarFrom, unique } from '../runtime/support.ts';

const prefix = unique('spring-keys');
const partitionedTopic = `${prefix}-partitioned`;
const partitionedExchange = `${prefix}-partitioned`;
const keyedTopic = `${prefix}-keyed`;
const observer = `${prefix}-observer`;
const PARTITIONS = 4;

/** 60 `payload.id` values as JSON text (JavaScript would turn `1.0` into `1` and round 2^53 + 1). */
const ids = {
  integers: ['0', '1', '-1', '7', '42', '-42', '99', '1000', '123456', '1000000007', '2147483647', '-2147483648'],
  longs: ['2147483648', '-2147483649', '3000000000', '4294967296', '4294967297', '1234567890123', '-1234567890123',
    '9007199254740993', '9007199254740995', '123456789012345678', '9223372036854775807', '-9223372036854775808'],
  fractions: ['0.0', '-0.0', '1.0', '7.0', '1.5', '-3.75', '0.1', '100.0', '123456.789', '3.141592653589793', '1e3', '2.5e10'],
  booleans: ['true', 'false', 'true', 'false', 'true', 'false', 'true', 'false', 'true', 'false', 'true', 'false'],
  strings: ['"a"', '"b"', '"42"', '"user-1"', '"order-12345"', '"h\\u00e9llo"', '"\\u65e5\\u672c"', '""', '"x y"', '"polygenelubricants"', '"GydZG_"', '"DESIGNING WORKHOUSES"'],
};
const keys = Object.entries(ids).flatMap(([kind, values]) => values.map((json) => ({ kind, json })));
/** Record keys (ASCII: they travel in an HTTP header). */
const recordKeys = ['order-1', 'order-2', 'order-3', 'customer-7', 'customer-42', 'a', 'b', 'c', 'user-1', 'tenant/acme', '0', '12345'];

const raw = rawKafka();
const running = {} as { spring: SpringApp; sidecar: RunningSidecar; rabbit: RawRabbit; routed: Array<{ routingKey: string; body: Record<string, unknown> }> };

beforeAll(prepareSpringApp, springAppBuildTimeoutMs);

beforeAll(async () => {
  raw.track({ topics: [partitionedTopic, keyedTopic] });
  const admin = await raw.admin();
  await admin.createTopics({ topics: [partitionedTopic, keyedTopic].map((topic) => ({ topic, numPartitions: PARTITIONS })), waitForLeaders: true });
  // What reaches the exchange, with its routing key (`<destination>-<partition>`), as a Spring producer declares it.
  running.rabbit = await rawRabbit();
  running.routed = [];
  const { channel } = running.rabbit;
  await channel.assertExchange(partitionedExchange, 'topic', { durable: true });
  await channel.assertQueue(observer, { durable: false, autoDelete: true });
  await channel.bindQueue(observer, partitionedExchange, '#');
  await channel.consume(observer, (message) => {
    if (message) running.routed.push({ routingKey: message.fields.routingKey, body: JSON.parse(message.content.toString()) as Record<string, unknown> });
  }, { noAck: true });

  const producer = (binding: string, properties: Record<string, string | number>) =>
    Object.fromEntries(Object.entries(properties).map(([k, v]) => [`spring.cloud.stream.${k.replace('*', binding)}`, v]));
  [running.spring, running.sidecar] = await Promise.all([
    SpringApp.start({
      name: 'keys',
      binder: 'kafka',
      properties: {
        ...producer('kafka-partitioned', { 'bindings.*.destination': partitionedTopic, 'bindings.*.producer.partition-key-expression': 'payload.id', 'bindings.*.producer.partition-count': PARTITIONS }),
        ...producer('rabbit-partitioned', {
          'bindings.*.destination': partitionedExchange, 'bindings.*.binder': 'rabbit',
          'bindings.*.producer.partition-key-expression': 'payload.id', 'bindings.*.producer.partition-count': PARTITIONS,
        }),
        ...producer('keyed', { 'bindings.*.destination': keyedTopic }),
        ...producer('keyed-by-expression', {
          'bindings.*.destination': keyedTopic,
          'kafka.bindings.*.producer.message-key-expression': "headers['orderid']",
          'kafka.bindings.*.producer.configuration.key.serializer': 'org.apache.kafka.common.serialization.StringSerializer',
        }),
      },
    }),
    sidecarFrom(`binders:
  kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } }
  rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } }
defaultBinder: kafka
bindings:
  kafka-partitioned: { direction: output, destination: ${partitionedTopic}, producer: { partitionKeyExpression: payload.id, partitionCount: ${PARTITIONS} } }
  rabbit-partitioned: { direction: output, destination: ${partitionedExchange}, binder: rabbit, producer: { partitionKeyExpression: payload.id, partitionCount: ${PARTITIONS} } }
  keyed: { direction: output, destination: ${keyedTopic} }
  keyed-by-expression: { direction: output, destination: ${keyedTopic}, producer: { messageKeyExpression: "headers['orderid']" } }`),
  ]);
}, 120_000);

afterAll(async () => {
  await running.sidecar?.close();
  await running.spring?.stop();
  await running.rabbit?.close();
  await raw.cleanup();
  await deleteRabbitObjects(prefix);
});

/** Sends `count` requests at most `width` at a time. */
async function inBatches(count: number, send: (i: number) => Promise<void>, width = 8): Promise<void> {
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, j) => send(start + j)));
  }
}

/** `{"id": <json>, "from": ..., "i": ...}` as text, so the id keeps its JSON type. */
const body = (json: string, from: string, i: number) => `{"id": ${json}, "from": "${from}", "i": ${i}}`;

describe('partitionKeyExpression payload.id: Spring and the sidecar agree key by key', () => {
  it.each([
    ['Kafka', 'kafka-partitioned'],
    ['RabbitMQ', 'rabbit-partitioned'],
  ])('on %s, for 60 integers, longs, fractions, booleans and strings', async (broker, binding) => {
    const answered: number[] = [];
    await inBatches(keys.length, async (i) => {
      const answer = await send(running.sidecar, binding, body(keys[i]!.json, 'bindery', i));
      expect(answer.status).toBe(202);
      answered[i] = answer.body.partition as number;
    });
    await inBatches(keys.length, (i) => running.spring.send({ binding, jsonText: body(keys[i]!.json, 'spring', i) }));

    const placed = new Map<string, number>();
    if (broker === 'Kafka') {
      for (const record of await raw.read(partitionedTopic, 2 * keys.length)) {
        const { from, i } = JSON.parse(record.value!.toString()) as { from: string; i: number };
        placed.set(`${from}-${i}`, record.partition);
      }
    } else {
      await waitFor('120 messages on the exchange', () => running.routed.length >= 2 * keys.length, 20_000);
      for (const { routingKey, body: sent } of running.routed) placed.set(`${sent.from}-${sent.i}`, Number(routingKey.slice(partitionedExchange.length + 1)));
    }
    const compared = keys.map((key, i) => ({ ...key, spring: placed.get(`spring-${i}`), bindery: placed.get(`bindery-${i}`), answered: answered[i] }));
    expect(compared.filter((k) => k.spring === undefined || k.bindery !== k.spring || k.answered !== k.bindery)).toEqual([]);
    expect(compared.filter((k) => k.spring === k.bindery)).toHaveLength(60);
    // Not a degenerate agreement: the keys spread over the partitions.
    expect(new Set(compared.map((k) => k.spring)).size).toBe(PARTITIONS);
  });
});

describe('Kafka record keys: x-message-key and producer.messageKeyExpression', () => {
  it('are written as Spring writes its keys and land where Kafka\'s partitioner puts Spring\'s record with that key', async () => {
    await inBatches(recordKeys.length, async (i) => {
      const key = recordKeys[i]!;
      const headers = { 'content-type': 'application/json' };
      expect((await send(running.sidecar, 'keyed', JSON.stringify({ from: 'bindery', i }), { ...headers, 'x-message-key': key })).status).toBe(202);
      expect((await send(running.sidecar, 'keyed-by-expression', JSON.stringify({ from: 'bindery-expression', i }), { ...headers, 'x-msg-orderid': key })).status).toBe(202);
      await running.spring.send({ binding: 'keyed', json: { from: 'spring', i }, key });
      await running.spring.send({ binding: 'keyed-by-expression', json: { from: 'spring-expression', i }, headers: { orderid: key } });
    });
    const records = new Map<string, { key: string | undefined; partition: number }>();
    for (const record of await raw.read(keyedTopic, 4 * recordKeys.length)) {
      const { from, i } = JSON.parse(record.value!.toString()) as { from: string; i: number };
      records.set(`${from}-${i}`, { key: record.key?.toString(), partition: record.partition });
    }
    const compared = recordKeys.map((key, i) => ({
      key,
      spring: records.get(`spring-${i}`),
      bindery: records.get(`bindery-${i}`),
      springExpression: records.get(`spring-expression-${i}`),
      binderyExpression: records.get(`bindery-expression-${i}`),
    }));
    for (const row of compared) {
      expect(row.spring).toEqual({ key: row.key, partition: expect.any(Number) });
      expect({ key: row.key, bindery: row.bindery, springExpression: row.springExpression, binderyExpression: row.binderyExpression })
        .toEqual({ key: row.key, bindery: row.spring, springExpression: row.spring, binderyExpression: row.spring });
    }
    expect(new Set(compared.map((row) => row.spring!.partition)).size).toBeGreaterThan(1);
  });
});
