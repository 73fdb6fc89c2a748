import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultProducer, type ProducerConfig } from '../../../../runtime/src/config/model.ts';
import {
  javaHashCode,
  javaHashPartition,
  javaString,
  messageKeyFor,
  MissingPartitionKeyError,
  murmur2,
  murmur2Partition,
  parseJavaJson,
  partitionFor,
} from '../../../../runtime/src/partition/index.ts';
import { toApiError } from '../../../../runtime/src/routes/errors.ts';

interface Vector {
  key: string;
  hashCode: number;
  murmur2: number;
  javaHash: number[];
  murmur2Partition: number[];
}
interface JsonValueVector {
  json: string;
  javaType: string;
  hashCode: number;
  javaString: string;
  javaHash: number[];
}
interface Vectors {
  murmur2Source: string;
  counts: number[];
  vectors: Vector[];
  jsonValues: JsonValueVector[];
}

const javaDir = fileURLToPath(new URL('../../../fixtures/java/', import.meta.url));
const fixtureText = readFileSync(`${javaDir}partition-vectors.json`, 'utf8');
const fixture = JSON.parse(fixtureText) as Vectors;
const cases = fixture.vectors.map((v) => ({ ...v, label: JSON.stringify(v.key).slice(0, 40) }));

describe('partition selection agrees with Java (test/fixtures/java/PartitionVectors.java)', () => {
  it('covers the keys the contract names', () => {
    const keys = fixture.vectors.map((v) => v.key);
    expect(keys).toContain('');
    expect(keys.some((k) => /[^ -~]/.test(k))).toBe(true);
    expect(keys.some((k) => /[\ud800-\udbff][\udc00-\udfff]/.test(k))).toBe(true);
    expect(fixture.vectors.filter((v) => v.hashCode === -0x80000000).length).toBeGreaterThanOrEqual(3);
    expect(keys.some((k) => k.length >= 1000)).toBe(true);
  });

  it.each(cases)('javaHashCode($label) = $hashCode', ({ key, hashCode }) => {
    expect(javaHashCode(key)).toBe(hashCode);
  });

  it.each(cases)('javaHash partitions of $label', ({ key, javaHash }) => {
    expect(fixture.counts.map((n) => javaHashPartition(key, n))).toEqual(javaHash);
  });

  it.each(cases)('murmur2 partitions of $label', ({ key, murmur2: hash, murmur2Partition: partitions }) => {
    if (!/[\ud800-\udfff]/.test(key)) expect(murmur2(Buffer.from(key, 'utf8'))).toBe(hash);
    expect(fixture.counts.map((n) => murmur2Partition(key, n))).toEqual(partitions);
  });

  it.each(cases)('partitionFor uses the x-partition-key and the selector for $label', ({ key, javaHash, murmur2Partition: m }) => {
    const producer = (partitionSelector: ProducerConfig['partitionSelector']): ProducerConfig => ({
      ...defaultProducer(),
      partitionCount: 4,
      partitionSelector,
      partitionKeyExpression: 'payload.never',
    });
    const four = fixture.counts.indexOf(4);
    expect(partitionFor(producer('javaHash'), { payload: {}, headers: {}, key })).toBe(javaHash[four]);
    expect(partitionFor(producer('murmur2'), { payload: {}, headers: {}, key })).toBe(m[four]);
  });
});

describe('keys that are not strings hash as the Java object Jackson reads (jsonValues of the vectors)', () => {
  it('covers integers, longs above 2^31 and 2^53, big integers, fractions, booleans, strings and containers', () => {
    const types = new Set(fixture.jsonValues.map((v) => v.javaType));
    expect([...types].sort()).toEqual(['java.lang.Boolean', 'java.lang.Double', 'java.lang.Integer', 'java.lang.Long', 'java.lang.String',
      'java.math.BigInteger', 'java.util.ArrayList', 'java.util.LinkedHashMap']);
    expect(fixture.jsonValues.some((v) => v.javaType === 'java.lang.Long' && Number(v.json) > 2 ** 53)).toBe(true);
  });

  it.each(fixture.jsonValues)('$json is a $javaType with hashCode $hashCode, printed as "$javaString"', ({ json, hashCode, javaString: printed, javaHash }) => {
    const value = parseJavaJson(json);
    expect(javaHashCode(value)).toBe(hashCode);
    expect(javaString(value)).toBe(printed);
    expect(fixture.counts.map((n) => javaHashPartition(value, n))).toEqual(javaHash);
  });

  it.each(fixture.jsonValues)('payload.id of {"id": $json} picks the partitions Java picks', ({ json, javaHash }) => {
    const producer = { ...defaultProducer(), partitionCount: 4, partitionKeyExpression: 'payload.id' };
    const body = Buffer.from(`{"id": ${json}}`);
    expect(partitionFor(producer, { payload: body, headers: {} })).toBe(javaHash[fixture.counts.indexOf(4)]);
  });
});

describe('partitionFor', () => {
  const partitioned = (partitionKeyExpression?: string): ProducerConfig => ({
    ...defaultProducer(),
    partitionCount: 8,
    partitionKeyExpression,
  });

  it.each([
    ['partitionCount 1', { ...defaultProducer(), partitionKeyExpression: 'payload.id' }],
    ['partitionCount 0', { ...defaultProducer(), partitionCount: 0 }],
  ])('is undefined when the binding is not partitioned (%s)', (_name, producer) => {
    expect(partitionFor(producer, { payload: { id: 'a' }, headers: {}, key: 'k' })).toBeUndefined();
  });

  it.each([
    ['payload.id', { id: 'order-12345' }, {}, 'order-12345'],
    ['payload.id', { id: 42 }, {}, 42],
    ["headers['userId']", {}, { userId: 'user-1' }, 'user-1'],
    ['headers.userId', {}, { userId: 'user-1' }, 'user-1'],
    ['payload.items[0].sku', { items: [{ sku: 'polygenelubricants' }] }, {}, 'polygenelubricants'],
    ["payload.region + '-' + payload.id", { region: 'eu', id: 7 }, {}, 'eu-7'],
  ])('evaluates %s to the key %s', (expression, payload, headers, key) => {
    expect(partitionFor(partitioned(expression), { payload, headers })).toBe(javaHashPartition(key, 8));
  });

  it('reads a raw JSON body as JSON and other bytes as text', () => {
    const json = Buffer.from(JSON.stringify({ id: 'user-1' }));
    expect(partitionFor(partitioned('payload.id'), { payload: json, headers: {} })).toBe(javaHashPartition('user-1', 8));
    expect(partitionFor(partitioned('payload'), { payload: Buffer.from('plain text'), headers: {} })).toBe(
      javaHashPartition('plain text', 8),
    );
  });

  it('prefers the x-partition-key over the expression', () => {
    expect(partitionFor(partitioned('payload.id'), { payload: { id: 'a' }, headers: {}, key: 'b' })).toBe(
      javaHashPartition('b', 8),
    );
  });

  it('leaves a keyed record without a partition key to Kafka\'s partitioner, and only there', () => {
    const keyed = { payload: { id: 'a' }, headers: {}, messageKey: 'order-1' };
    expect(partitionFor(partitioned(), keyed, true)).toBeUndefined();
    expect(() => partitionFor(partitioned(), keyed, false)).toThrow(MissingPartitionKeyError);
    expect(partitionFor(partitioned(), { ...keyed, key: 'k' }, true)).toBe(javaHashPartition('k', 8));
    expect(partitionFor(partitioned('payload.id'), keyed, true)).toBe(javaHashPartition('a', 8));
    expect(partitionFor({ ...partitioned(), messageKeyExpression: 'headers.order' }, { payload: {}, headers: { order: 'o-1' } }, true)).toBeUndefined();
  });

  it.each([
    ['no expression and no key', undefined, { id: 'a' }, /x-partition-key header or configure producer.partitionKeyExpression/],
    ['a path that is absent', 'payload.id', { other: 1 }, /"payload.id" found no value/],
    ['a null value', 'payload.id', { id: null }, /"payload.id" found no value/],
    ['a concatenation with an absent part', "payload.a + '-' + payload.b", { a: 'x' }, /found no value/],
  ])('throws MissingPartitionKeyError (400) for %s', (_name, expression, payload, message) => {
    const send = () => partitionFor(partitioned(expression), { payload, headers: {} });
    expect(send).toThrow(MissingPartitionKeyError);
    expect(send).toThrow(message);
    try {
      send();
    } catch (error) {
      expect(toApiError(error as Error, undefined)).toMatchObject({ statusCode: 400, code: 'BINDERY_ERR_MISSING_PARTITION_KEY' });
    }
  });
});

describe('messageKeyFor: the Kafka record key', () => {
  const producer = (messageKeyExpression?: string): ProducerConfig => ({ ...defaultProducer(), messageKeyExpression });

  it.each([
    ['the x-message-key header wins', "headers['order']", { messageKey: 'from-header' }, 'from-header'],
    ['a header', "headers['order']", {}, 'o-1'],
    ['a JSON string', 'payload.id', {}, 'user-1'],
    ['a JSON integer, as Java prints the Integer', 'payload.n', {}, '7'],
    ['a JSON fraction, as Java prints the Double', 'payload.d', {}, '7.0'],
    ['a concatenation', "payload.id + ':' + payload.n", {}, 'user-1:7'],
    ['nothing found: no key, as Spring sends a null key', 'payload.absent', {}, undefined],
    ['no expression', undefined, {}, undefined],
  ])('%s', (_name, expression, extra, expected) => {
    const body = Buffer.from('{"id": "user-1", "n": 7, "d": 7.0}');
    expect(messageKeyFor(producer(expression), { payload: body, headers: { order: 'o-1' }, ...extra })).toBe(expected);
  });
});
