import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { outboundRecord } from '../../../../../runtime/src/binders/kafka/messages.ts';
import { recordSize } from '../../../../../runtime/src/binders/kafka/producer.ts';

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
