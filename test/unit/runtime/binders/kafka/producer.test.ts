import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { outboundRecord } from '../../../../../runtime/src/binders/kafka/messages.ts';
import { recordPartitioner, recordSize } from '../../../../../runtime/src/binders/kafka/producer.ts';

/** kafkajs's own record encoder (format v2), the bytes a record really takes in a batch. */
const encodeRecord = createRequire(import.meta.url)('kafkajs/src/protocol/recordBatch/record/v0') as (record: {
  key?: Buffer | null;
  value: Buffer;
  headers: Record<string, string | Buffer>;
  offsetDelta?: number;
  timestampDelta?: number;
}) => { buffer: Buffer };

describe('recordSize: an upper bound of what a record takes in a batch, never far above it', () => {
  it.each([
    ['an empty body', 0, {}],
    ['a small body with headers', 100, { tenant: 'acme', trace: 't-1' }],
    ['a 1 MiB body', 1024 * 1024, { region: 'eu' }],
    ['headers in UTF-8', 10, { 'naïve': 'ünïcödé'.repeat(20) }],
    ['many headers', 10, Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`h${i}`, 'v'.repeat(i)]))],
  ])('%s', (_name, bytes, headers) => {
    const record = outboundRecord({ id: 'm-1', payload: Buffer.alloc(bytes, 0x61), contentType: 'application/json', headers });
    const encoded = encodeRecord({ ...record, offsetDelta: 499, timestampDelta: 2 ** 40 }).buffer.length;
    const estimate = recordSize(record);
    expect(estimate).toBeGreaterThanOrEqual(encoded);
    expect(estimate - encoded).toBeLessThan(40 + 10 * (Object.keys(record.headers).length));
  });
});

const vectors = JSON.parse(readFileSync(fileURLToPath(new URL('../../../../fixtures/java/partition-vectors.json', import.meta.url)), 'utf8')) as {
  counts: number[];
  vectors: Array<{ key: string; murmur2Partition: number[] }>;
};
const metadata = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId }));
const record = (fields: { key?: string; partition?: number }) =>
  outboundRecord({ id: 'm', payload: Buffer.alloc(0), contentType: 'text/plain', headers: {}, ...fields });

describe('recordPartitioner', () => {
  it.each(vectors.vectors.map((v) => ({ ...v, label: JSON.stringify(v.key).slice(0, 30) })))(
    'a record keyed $label goes where Kafka\'s own partitioner puts it (murmur2 of the key)',
    ({ key, murmur2Partition }) => {
      const chosen = new WeakMap<object, number>();
      const partitioner = recordPartitioner(chosen);
      vectors.counts.forEach((n, i) => {
        const message = record({ key });
        expect(partitioner({ partitionMetadata: metadata(n), message })).toBe(murmur2Partition[i]);
        expect(chosen.get(message)).toBe(murmur2Partition[i]);
      });
    },
  );

  it('keeps a partition the runtime picked, keyed or not, and goes round-robin without a key', () => {
    const partitioner = recordPartitioner(new WeakMap());
    expect(partitioner({ partitionMetadata: metadata(4), message: record({ key: 'k', partition: 3 }) })).toBe(3);
    const unkeyed = [0, 1, 2, 3, 4].map(() => partitioner({ partitionMetadata: metadata(4), message: record({}) }));
    expect(unkeyed).toEqual([0, 1, 2, 3, 0]);
  });

  it('puts a retried record where its first attempt went, even when the topic grew meanwhile', () => {
    const partitioner = recordPartitioner(new WeakMap());
    const unkeyed = record({});
    const keyed = record({ key: 'order-17' });
    const first = [unkeyed, keyed].map((message) => partitioner({ partitionMetadata: metadata(2), message }));
    partitioner({ partitionMetadata: metadata(2), message: record({}) });
    const retried = [unkeyed, keyed].map((message) => partitioner({ partitionMetadata: metadata(8), message }));
    expect(retried).toEqual(first);
  });

  it('fails a send to a partition the producer does not know rather than dropping it', () => {
    const partitioner = recordPartitioner(new WeakMap());
    expect(() => partitioner({ partitionMetadata: metadata(2), message: record({ partition: 5 }) })).toThrow(/partition 5 is not \(yet\) known/);
  });
});
