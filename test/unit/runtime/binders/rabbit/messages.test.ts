import { describe, expect, it } from 'vitest';
import { attempt, inboundMessage, publishProperties, route } from '../../../../../runtime/src/binders/rabbit/messages.ts';
import { withHeartbeat } from '../../../../../runtime/src/binders/rabbit/url.ts';
import { redact, urlSecrets } from '../../../../../runtime/src/redact.ts';

describe('route', () => {
  it.each([
    { destination: 'orders', partition: undefined, expected: { exchange: 'orders', routingKey: 'orders' } },
    { destination: 'orders', partition: 0, expected: { exchange: 'orders', routingKey: 'orders-0' } },
    { destination: 'orders', partition: 3, expected: { exchange: 'orders', routingKey: 'orders-3' } },
  ])('$destination, partition $partition -> $expected.routingKey', ({ destination, partition, expected }) => {
    expect(route(destination, partition)).toEqual(expected);
  });
});

describe('publishProperties', () => {
  it.each([
    {
      case: 'unpartitioned',
      partition: undefined,
      headers: { tenant: 'acme' },
    },
    {
      case: 'partitioned: adds scst_partition',
      partition: 2,
      headers: { tenant: 'acme', scst_partition: 2 },
    },
  ])('$case', ({ partition, headers }) => {
    const properties = publishProperties({
      id: 'id-1', payload: Buffer.from('x'), contentType: 'text/plain', headers: { tenant: 'acme' }, partition,
    }, partition);
    expect(properties).toEqual({ persistent: true, contentType: 'text/plain', messageId: 'id-1', headers, mandatory: false });
  });
});

describe('attempt', () => {
  it.each([
    { case: 'first delivery', redelivered: false, headers: {}, expected: 1 },
    { case: 'redelivered by a classic queue', redelivered: true, headers: {}, expected: 2 },
    { case: 'quorum queue delivery count', redelivered: true, headers: { 'x-delivery-count': 4 }, expected: 5 },
    {
      case: 'dead-lettered twice from this queue and back',
      redelivered: false,
      headers: { 'x-death': [{ queue: 'orders.g', count: 2 }, { queue: 'other', count: 7 }] },
      expected: 3,
    },
    { case: 'a malformed x-death', redelivered: false, headers: { 'x-death': 'nonsense' }, expected: 1 },
  ])('$case -> $expected', ({ redelivered, headers, expected }) => {
    expect(attempt(redelivered, headers, 'orders.g')).toBe(expected);
  });
});

describe('inboundMessage', () => {
  const received = (over: { routingKey?: string; properties?: Record<string, unknown> }) => ({
    content: Buffer.from('{}'),
    fields: { redelivered: false, exchange: 'orders', routingKey: over.routingKey ?? 'orders' },
    properties: over.properties ?? {},
  });

  it.each([
    {
      case: 'all properties present',
      message: received({ properties: { messageId: 'm1', contentType: 'text/plain', headers: { a: 'b' } } }),
      expected: { id: 'm1', contentType: 'text/plain', headers: { a: 'b' }, attempt: 1 },
    },
    {
      case: 'no content type: the binding\'s',
      message: received({ properties: { messageId: 'm1' } }),
      expected: { id: 'm1', contentType: 'application/json', headers: {} },
    },
    {
      case: 'partition from the routing key; broker headers hidden; values as text',
      message: received({
        routingKey: 'orders-3',
        properties: { messageId: 'm1', headers: { scst_partition: 3, 'x-death': [], n: 5, raw: Buffer.from('hi'), o: { k: 1 } } },
      }),
      expected: { partition: 3, headers: { n: '5', raw: 'hi', o: '{"k":1}' } },
    },
    {
      case: 'partition from scst_partition when the routing key has none',
      message: received({ properties: { messageId: 'm1', headers: { scst_partition: 1 } } }),
      expected: { partition: 1, headers: {} },
    },
  ])('$case', ({ message, expected }) => {
    expect(inboundMessage(message, 'orders.g', 'orders', 'application/json')).toMatchObject(expected);
  });

  it.each([
    { case: 'absent', properties: {} },
    { case: 'empty', properties: { messageId: '' } },
  ])('gives a message whose message_id is $case a fresh id', ({ properties }) => {
    const a = inboundMessage(received({ properties }), 'q', 'orders', 'application/json');
    const b = inboundMessage(received({ properties }), 'q', 'orders', 'application/json');
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
  });
});

describe('URLs', () => {
  it.each([
    { text: 'cannot reach amqp://u:p%40ss@h:5672', expected: 'cannot reach amqp://u:***@h:5672' },
    { text: 'login with p@ss refused', expected: 'login with *** refused' },
  ])('redact hides the password in "$text"', ({ text, expected }) => {
    expect(redact(text, urlSecrets('amqp://u:p%40ss@h:5672'))).toBe(expected);
  });

  it.each([
    { url: 'amqp://h:5672', expected: 'amqp://h:5672?heartbeat=10' },
    { url: 'amqp://h:5672?heartbeat=30', expected: 'amqp://h:5672?heartbeat=30' },
  ])('withHeartbeat($url)', ({ url, expected }) => {
    expect(withHeartbeat(url)).toBe(expected);
  });
});
