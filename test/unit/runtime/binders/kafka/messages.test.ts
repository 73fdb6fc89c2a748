import { describe, expect, it } from 'vitest';
import { contentTypeOf, deadLetterRecord, inboundMessage, outboundRecord } from '../../../../../runtime/src/binders/kafka/messages.ts';

describe('kafka record translation', () => {
  it.each([
    { case: 'unpartitioned', message: { partition: undefined }, partition: undefined, scst: undefined },
    { case: 'partitioned', message: { partition: 3 }, partition: 3, scst: '3' },
  ])('outbound, $case: contentType raw, id, user headers, scst_partition when partitioned', ({ message, partition, scst }) => {
    const record = outboundRecord({ id: 'm1', payload: Buffer.from('{}'), contentType: 'application/json', headers: { tenant: 'acme' }, ...message });
    expect(record.partition).toBe(partition);
    expect(record.headers).toEqual({ tenant: 'acme', contentType: 'application/json', bindery_messageId: 'm1', ...(scst && { scst_partition: scst }) });
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
      headers: { bindery_messageId: 'm1', contentType: 'text/plain', scst_partition: '0', tenant: Buffer.from('acme') },
      expected: { id: 'm1', contentType: 'text/plain', headers: { tenant: 'acme' } },
    },
    {
      case: 'a Spring record: no id, JSON-quoted content type, header types',
      headers: { contentType: Buffer.from('"application/json"'), spring_json_header_types: '{"x":"java.lang.String"}', x: ['first', 'last'] },
      expected: { id: 'orders-2-41', contentType: 'application/json', headers: { x: 'last' } },
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
