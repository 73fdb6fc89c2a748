import { describe, expect, it } from 'vitest';
import { rabbitTopology, type RabbitQueue } from '../../../../topology/rabbit/desired.ts';
import { input, output } from '../inputs.ts';

const destinationExchange = { name: 'orders', type: 'topic', durable: true, autoDelete: false };
const dlx = { name: 'DLX', type: 'direct', durable: true, autoDelete: false };
const durableQueue = (name: string, args: Record<string, string> = {}): RabbitQueue =>
  ({ name, durable: true, exclusive: false, autoDelete: false, arguments: args });
const deadLettered = (name: string): RabbitQueue =>
  durableQueue(name, { 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': name });
const bind = (exchange: string, queue: string, routingKey: string) => ({ exchange, queue, routingKey });

describe('rabbitTopology', () => {
  it.each([
    {
      case: 'an output: its destination exchange only',
      binding: output(),
      expected: { exchanges: [destinationExchange], queues: [], bindings: [], consumeQueues: [] },
    },
    {
      case: 'a group input with deadLetter: durable group queue bound with #, DLX and DLQ',
      binding: input('audit', { deadLetter: true }),
      expected: {
        exchanges: [destinationExchange, dlx],
        queues: [deadLettered('orders.audit'), durableQueue('orders.audit.dlq')],
        bindings: [bind('orders', 'orders.audit', '#'), bind('DLX', 'orders.audit.dlq', 'orders.audit')],
        consumeQueues: ['orders.audit'],
      },
    },
    {
      case: 'a group input by default (as Spring\'s autoBindDlq false): no DLX arguments, no DLQ',
      binding: input('audit'),
      expected: {
        exchanges: [destinationExchange],
        queues: [durableQueue('orders.audit')],
        bindings: [bind('orders', 'orders.audit', '#')],
        consumeQueues: ['orders.audit'],
      },
    },
    {
      case: 'an anonymous input with its queue name: exclusive, auto-delete, non-durable, no DLQ',
      binding: input(undefined),
      options: { anonymousQueue: 'orders.anonymous.abc' },
      expected: {
        exchanges: [destinationExchange],
        queues: [{ name: 'orders.anonymous.abc', durable: false, exclusive: true, autoDelete: true, arguments: {} }],
        bindings: [bind('orders', 'orders.anonymous.abc', '#')],
        consumeQueues: ['orders.anonymous.abc'],
      },
    },
    {
      case: 'an anonymous input without a queue name (the operator): the exchange only',
      binding: input(undefined),
      expected: { exchanges: [destinationExchange], queues: [], bindings: [], consumeQueues: [] },
    },
    {
      case: 'an output with required groups: their queues as a default consumer (and Spring) declares them',
      binding: output({ requiredGroups: ['audit', 'billing'] }),
      expected: {
        exchanges: [destinationExchange],
        queues: [durableQueue('orders.audit'), durableQueue('orders.billing')],
        bindings: [bind('orders', 'orders.audit', '#'), bind('orders', 'orders.billing', '#')],
        consumeQueues: [],
      },
    },
    {
      case: 'an output with required groups and deadLetter: their queues as a consumer with deadLetter declares them',
      binding: output({ requiredGroups: ['audit', 'billing'], deadLetter: true }),
      expected: {
        exchanges: [destinationExchange, dlx],
        queues: [
          deadLettered('orders.audit'), durableQueue('orders.audit.dlq'),
          deadLettered('orders.billing'), durableQueue('orders.billing.dlq'),
        ],
        bindings: [
          bind('orders', 'orders.audit', '#'), bind('DLX', 'orders.audit.dlq', 'orders.audit'),
          bind('orders', 'orders.billing', '#'), bind('DLX', 'orders.billing.dlq', 'orders.billing'),
        ],
        consumeQueues: [],
      },
    },
    {
      case: 'a partitioned output with a required group: one queue per partition, one shared DLQ',
      binding: output({ partitionCount: 2, requiredGroups: ['audit'], deadLetter: true }),
      expected: {
        exchanges: [destinationExchange, dlx],
        queues: [deadLettered('orders.audit-0'), deadLettered('orders.audit-1'), durableQueue('orders.audit.dlq')],
        bindings: [
          bind('orders', 'orders.audit-0', 'orders-0'), bind('orders', 'orders.audit-1', 'orders-1'),
          bind('DLX', 'orders.audit.dlq', 'orders.audit-0'), bind('DLX', 'orders.audit.dlq', 'orders.audit-1'),
        ],
        consumeQueues: [],
      },
    },
    {
      case: 'a partitioned input, instance 1 of 3: the queue of partition 1 only',
      binding: input('audit', { partitioned: true, instanceIndex: 1, instanceCount: 3, deadLetter: true }),
      expected: {
        exchanges: [destinationExchange, dlx],
        queues: [deadLettered('orders.audit-1'), durableQueue('orders.audit.dlq')],
        bindings: [bind('orders', 'orders.audit-1', 'orders-1'), bind('DLX', 'orders.audit.dlq', 'orders.audit-1')],
        consumeQueues: ['orders.audit-1'],
      },
    },
    {
      case: 'a partitioned input, instance 0 of 2 over 4 partitions: partitions 0 and 2',
      binding: input('audit', { partitioned: true, instanceIndex: 0, instanceCount: 2 }, { partitionCount: 4 }),
      expected: {
        exchanges: [destinationExchange],
        queues: [durableQueue('orders.audit-0'), durableQueue('orders.audit-2')],
        bindings: [bind('orders', 'orders.audit-0', 'orders-0'), bind('orders', 'orders.audit-2', 'orders-2')],
        consumeQueues: ['orders.audit-0', 'orders.audit-2'],
      },
    },
    {
      case: 'a partitioned anonymous input: its queue bound with its partition key',
      binding: input(undefined, { partitioned: true, instanceIndex: 2, instanceCount: 3 }),
      options: { anonymousQueue: 'orders.anonymous.abc' },
      expected: {
        exchanges: [destinationExchange],
        queues: [{ name: 'orders.anonymous.abc', durable: false, exclusive: true, autoDelete: true, arguments: {} }],
        bindings: [bind('orders', 'orders.anonymous.abc', 'orders-2')],
        consumeQueues: ['orders.anonymous.abc'],
      },
    },
  ])('$case', ({ binding, options, expected }) => {
    expect(rabbitTopology(binding, options)).toEqual(expected);
  });

  it.each([
    { case: 'output', binding: output({ partitionCount: 3, requiredGroups: ['a', 'b'] }) },
    { case: 'group input', binding: input('a', { partitioned: true, instanceCount: 2 }, { partitionCount: 4 }) },
  ])('is pure: the same $case gives the same topology twice', ({ binding }) => {
    expect(rabbitTopology(binding)).toEqual(rabbitTopology(binding));
  });
});
