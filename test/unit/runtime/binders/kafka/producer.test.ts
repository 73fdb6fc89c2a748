import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { outboundRecord } from '../../../../../runtime/src/binders/kafka/messages.ts';
import { recordPartitioner } from '../../../../../runtime/src/binders/kafka/producer.ts';

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

  it('fails a send to a partition the producer does not know rather than dropping it', () => {
    const partitioner = recordPartitioner(new WeakMap());
    expect(() => partitioner({ partitionMetadata: metadata(2), message: record({ partition: 5 }) })).toThrow(/partition 5 is not \(yet\) known/);
  });
});
