import { describe, expect, it } from 'vitest';
import { rabbitTopology } from '../../../../topology/rabbit/desired.ts';
import { parseSnapshot, rabbitDrift } from '../../../../topology/rabbit/snapshot.ts';
import { input, output } from '../inputs.ts';

/** The management API's lists as RabbitMQ 3.10 answers them with the columns the session asks for. */
const exchange = (name: string, type = 'topic', extra: object = {}) => ({ name, type, durable: true, auto_delete: false, ...extra });
const queue = (name: string, extra: object = {}) => ({ name, durable: true, auto_delete: false, arguments: {}, messages_ready: 0, ...extra });
const binding = (source: string, destination: string, routing_key: string) => ({ source, destination, destination_type: 'queue', routing_key });
const deadLettered = (name: string) => ({ 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': name });

const groupInput = rabbitTopology(input('audit'));
const deadLetterInput = rabbitTopology(input('audit', { deadLetter: true }));
const all = {
  exchanges: [exchange(''), exchange('orders'), exchange('DLX', 'direct')],
  queues: [queue('orders.audit', { messages_ready: 7 })],
  bindings: [binding('', 'orders.audit', 'orders.audit'), binding('orders', 'orders.audit', '#')],
};

describe('rabbitDrift', () => {
  it.each([
    {
      case: 'everything there: no drift, the lag from messages_ready',
      topology: groupInput, lists: all, lag: true,
      expected: { absent: [], differs: [], ready: 7, depthUnknown: [] },
    },
    {
      case: 'the lag is not asked for: no depth counted',
      topology: groupInput, lists: all, lag: false,
      expected: { absent: [], differs: [], ready: 0, depthUnknown: [] },
    },
    {
      case: 'a queue deleted by hand (its bindings went with it)',
      topology: groupInput, lists: { ...all, queues: [], bindings: [] }, lag: true,
      expected: { absent: ['queue orders.audit', 'binding orders -> orders.audit (#)'], differs: [], ready: 0, depthUnknown: [] },
    },
    {
      case: 'a binding removed by hand, the queue still there',
      topology: groupInput, lists: { ...all, bindings: [] }, lag: false,
      expected: { absent: ['binding orders -> orders.audit (#)'], differs: [], ready: 0, depthUnknown: [] },
    },
    {
      case: 'an output whose exchange is gone',
      topology: rabbitTopology(output()), lists: { ...all, exchanges: [] }, lag: false,
      expected: { absent: ['exchange orders'], differs: [], ready: 0, depthUnknown: [] },
    },
    {
      case: 'a queue without statistics yet: its depth is unknown',
      topology: groupInput, lists: { ...all, queues: [queue('orders.audit', { messages_ready: undefined })] }, lag: true,
      expected: { absent: [], differs: [], ready: 0, depthUnknown: ['orders.audit'] },
    },
    {
      case: 'a queue re-created without the dead-letter arguments the binding declares',
      topology: deadLetterInput,
      lists: {
        exchanges: all.exchanges,
        queues: [queue('orders.audit'), queue('orders.audit.dlq')],
        bindings: [...all.bindings, binding('DLX', 'orders.audit.dlq', 'orders.audit')],
      },
      lag: false,
      expected: {
        absent: [],
        differs: [
          "queue 'orders.audit' exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX",
          "queue 'orders.audit' exists with x-dead-letter-routing-key = none, this binding declares x-dead-letter-routing-key = orders.audit",
        ],
        ready: 0, depthUnknown: [],
      },
    },
    {
      case: 'a queue with dead-letter arguments the binding does not declare',
      topology: groupInput, lists: { ...all, queues: [queue('orders.audit', { arguments: deadLettered('orders.audit') })] }, lag: false,
      expected: {
        absent: [],
        differs: [
          "queue 'orders.audit' exists with x-dead-letter-exchange = DLX, this binding declares x-dead-letter-exchange = none",
          "queue 'orders.audit' exists with x-dead-letter-routing-key = orders.audit, this binding declares x-dead-letter-routing-key = none",
        ],
        ready: 0, depthUnknown: [],
      },
    },
    {
      case: 'arguments RabbitMQ does not compare, such as a max length set by hand, are no drift',
      topology: groupInput, lists: { ...all, queues: [queue('orders.audit', { arguments: { 'x-max-length': 10 } })] }, lag: false,
      expected: { absent: [], differs: [], ready: 0, depthUnknown: [] },
    },
    {
      case: 'a transient queue and an exchange of another type',
      topology: groupInput,
      lists: { ...all, exchanges: [exchange('orders', 'fanout')], queues: [queue('orders.audit', { durable: false })] },
      lag: false,
      expected: {
        absent: [],
        differs: [
          "exchange 'orders' exists with type = fanout, this binding declares type = topic",
          "queue 'orders.audit' exists with durable = false, this binding declares durable = true",
        ],
        ready: 0, depthUnknown: [],
      },
    },
  ])('$case', ({ topology, lists, lag, expected }) => {
    expect(rabbitDrift(topology, parseSnapshot(lists), { lag })).toEqual(expected);
  });
});

describe('parseSnapshot', () => {
  it('keeps queue bindings only, and skips entries without a name', () => {
    const snapshot = parseSnapshot({
      exchanges: [exchange('orders'), { type: 'topic' }],
      queues: [queue('q', { arguments: null }), { durable: true }],
      bindings: [binding('orders', 'q', '#'), { source: 'orders', destination: 'other', destination_type: 'exchange', routing_key: '#' }],
    });
    expect([...snapshot.exchanges.keys()]).toEqual(['orders']);
    expect(snapshot.queues.get('q')).toEqual({ durable: true, autoDelete: false, arguments: {}, messagesReady: 0 });
    expect([...snapshot.bindings]).toEqual(['binding orders -> q (#)']);
  });

  it('reads anything but lists as empty', () => {
    const snapshot = parseSnapshot({ exchanges: { error: 'x' }, queues: null, bindings: 'nope' });
    expect(snapshot.exchanges.size + snapshot.queues.size + snapshot.bindings.size).toBe(0);
  });
});
