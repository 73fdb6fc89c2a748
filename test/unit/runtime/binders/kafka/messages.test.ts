import { describe, expect, it } from 'vitest';
import { contentTypeOf, deadLetterRecord, inboundMessage, outboundRecord } from '../../../../../runtime/src/binders/kafka/messages.ts';

describe('kafka record translation', () => {
  it.each([
    { case: 'unpartitioned', message: { partition: undefined }, partition: undefined, scst: {}, scstType: {} },
    { case: 'partitioned', message: { partition: 3 }, partition: 3, scst: { scst_partition: '3' }, scstType: { scst_partition: 'java.lang.Integer' } },
  ])('outbound, $case: headers as Spring\'s header mapper writes them, with their Java types', ({ message, partition, scst, scstType }) => {
    const record = outboundRecord({ id: 'm1', payload: Buffer.from('{}'), contentType: 'application/json', headers: { tenant: 'acme', count: '5' }, ...message });
    expect(record.partition).toBe(partition);
    expect(record.key).toBeUndefined();
    const { spring_json_header_types: types, ...headers } = record.headers;
    expect(headers).toEqual({ tenant: 'acme', count: '5', contentType: 'application/json', bindery_messageId: 'm1', ...scst });
    expect(JSON.parse(String(types))).toEqual({
      tenant: 'java.lang.String', count: 'java.lang.String', contentType: 'java.lang.String', bindery_messageId: 'java.lang.String', ...scstType,
    });
  });

  it('outbound: a string that starts with a quote is JSON-encoded, which the mapper decodes back to it', () => {
    const record = outboundRecord({ id: 'm1', payload: Buffer.alloc(0), contentType: 'text/plain', headers: { quoted: '"hi" she said' } });
    expect(record.headers.quoted).toBe('"\\"hi\\" she said"');
    expect(inboundMessage({ value: null, offset: '0', timestamp: '0', headers: record.headers }, 't', 0, 'x', 1).headers).toEqual({ quoted: '"hi" she said' });
  });

  it.each([
    ['ascii', 'order-42'],
    ['non-ASCII, as a Java StringSerializer writes it', 'cl\u00e9-\u65e5'],
    ['a lone surrogate, which Java writes as ?', 'a\ud800b'],
  ])('outbound: the record key (%s)', (_name, key) => {
    const record = outboundRecord({ id: 'm1', payload: Buffer.alloc(0), contentType: 'text/plain', headers: {}, key });
    expect(record.key).toEqual(Buffer.from(key.replace(/[\ud800-\udfff]/g, '?'), 'utf8'));
  });

  it.each([
    ['application/json', 'application/json'],
    ['"application/json"', 'application/json'],
    ['"text/plain; charset=utf-8"', 'text/plain; charset=utf-8'],
    ['"unterminated', '"unterminated'],
    ['', undefined],
    [undefined, undefined],
  ])('contentType header %j reads as %j', (header, expected) => {
    expect(contentTypeOf(header)).toBe(expected);
  });

  it.each([
    {
      case: 'a Bindery record',
      headers: { bindery_messageId: 'm1', contentType: 'text/plain', scst_partition: '0', tenant: Buffer.from('acme'), spring_json_header_types: '{"tenant":"java.lang.String","scst_partition":"java.lang.Integer"}' },
      expected: { id: 'm1', contentType: 'text/plain', headers: { tenant: 'acme' } },
    },
    {
      case: 'a Spring 2.x record: no id, JSON-quoted content type, header types',
      headers: { contentType: Buffer.from('"application/json"'), spring_json_header_types: '{"x":"java.lang.String","contentType":"java.lang.String"}', x: ['first', 'last'] },
      expected: { id: 'orders-2-41', contentType: 'application/json', headers: { x: 'last' } },
    },
    {
      case: 'a Spring 4 record: raw strings, JSON numbers and booleans, typed; byte[] untyped',
      headers: {
        contentType: Buffer.from('application/json'),
        name: Buffer.from('acme'),
        count: Buffer.from('5'),
        big: Buffer.from('3000000000'),
        flag: Buffer.from('true'),
        uuid: Buffer.from('"3f2b1c9e-0000-4000-8000-000000000001"'),
        raw: Buffer.from('"as sent"'),
        spring_json_header_types: Buffer.from(JSON.stringify({
          contentType: 'java.lang.String', name: 'java.lang.String', count: 'java.lang.Integer', big: 'java.lang.Long', flag: 'java.lang.Boolean', uuid: 'java.util.UUID',
        })),
      },
      expected: {
        id: 'orders-2-41',
        contentType: 'application/json',
        headers: { name: 'acme', count: '5', big: '3000000000', flag: 'true', uuid: '3f2b1c9e-0000-4000-8000-000000000001', raw: '"as sent"' },
      },
    },
    {
      case: 'unreadable header types: every value as its bytes',
      headers: { spring_json_header_types: '{not json', a: '"quoted"' },
      expected: { id: 'orders-2-41', contentType: 'application/octet-stream', headers: { a: '"quoted"' } },
    },
    { case: 'no headers at all: the binding\'s content type', headers: undefined, expected: { id: 'orders-2-41', contentType: 'application/octet-stream', headers: {} } },
  ])('inbound, $case', ({ headers, expected }) => {
    const message = inboundMessage({ value: Buffer.from('x'), offset: '41', timestamp: '0', ...(headers && { headers }) }, 'orders', 2, 'application/octet-stream', 1);
    expect(message).toEqual({ ...expected, payload: Buffer.from('x'), partition: 2, attempt: 1 });
  });

  it.each([
    [8, 2],
    [4, 2],
    [2, 0],
  ])('dead letter to a DLQ topic of %i partitions from partition 2 goes to partition %i', (dlqPartitions, partition) => {
    const record = deadLetterRecord(
      { key: Buffer.from('k'), value: Buffer.from('v'), offset: '7', timestamp: '1700000000000', headers: { contentType: 'text/plain' } },
      'orders', 2, 'app answered 500', dlqPartitions,
    );
    expect(record).toEqual({
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      partition,
      headers: {
        contentType: 'text/plain',
        'x-original-topic': 'orders',
        'x-original-partition': '2',
        'x-original-offset': '7',
        'x-original-timestamp': '1700000000000',
        'x-exception-message': 'app answered 500',
      },
    });
  });
});
