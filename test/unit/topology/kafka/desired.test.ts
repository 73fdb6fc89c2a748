import { describe, expect, it } from 'vitest';
import { kafkaTopology } from '../../../../topology/kafka/desired.ts';
import { input, output } from '../inputs.ts';

describe('kafkaTopology', () => {
  it.each([
    { case: 'an output: its topic with one partition', binding: output(), options: {}, expected: { topic: { name: 'orders', partitions: 1 } } },
    {
      case: 'a partitioned output: partitionCount partitions',
      binding: output({ partitionCount: 4 }),
      options: {},
      expected: { topic: { name: 'orders', partitions: 4 } },
    },
    {
      case: 'a group input with deadLetter: consumer group, DLQ topic error.<destination>.<group>, earliest',
      binding: input('audit', { deadLetter: true }),
      options: {},
      expected: {
        topic: { name: 'orders', partitions: 1 },
        deadLetterTopic: { name: 'error.orders.audit', partitions: 1 },
        consumerGroup: 'audit',
        startOffset: 'earliest',
      },
    },
    {
      case: 'a group input by default (as Spring\'s enableDlq false): no DLQ topic',
      binding: input('audit'),
      options: {},
      expected: { topic: { name: 'orders', partitions: 1 }, consumerGroup: 'audit', startOffset: 'earliest' },
    },
    {
      case: 'a group input that starts at the end',
      binding: input('audit', { startOffset: 'latest' }),
      options: {},
      expected: { topic: { name: 'orders', partitions: 1 }, consumerGroup: 'audit', startOffset: 'latest' },
    },
    {
      case: 'an anonymous input as the consumer sees it: its anonymous group, latest, no DLQ',
      binding: input(undefined),
      options: { anonymousGroup: 'anonymous.0b5c2e4e-1d3a-4f0e-9d55-2a7f6d1c9e11' },
      expected: {
        topic: { name: 'orders', partitions: 1 },
        consumerGroup: 'anonymous.0b5c2e4e-1d3a-4f0e-9d55-2a7f6d1c9e11',
        startOffset: 'latest',
      },
    },
    {
      case: 'an anonymous input as the operator sees it: the topic only',
      binding: input(undefined, { startOffset: 'earliest' }),
      options: {},
      expected: { topic: { name: 'orders', partitions: 1 }, startOffset: 'earliest' },
    },
    {
      case: 'an input of 3 instances: 3 partitions, DLQ alike',
      binding: input('audit', { partitioned: true, instanceCount: 3, deadLetter: true }),
      options: {},
      expected: {
        topic: { name: 'orders', partitions: 3 },
        deadLetterTopic: { name: 'error.orders.audit', partitions: 3 },
        consumerGroup: 'audit',
        startOffset: 'earliest',
      },
    },
    {
      case: 'an input of 2 instances with concurrency 3: 6 partitions',
      binding: input('audit', { instanceCount: 2, concurrency: 3 }),
      options: {},
      expected: { topic: { name: 'orders', partitions: 6 }, consumerGroup: 'audit', startOffset: 'earliest' },
    },
    {
      case: 'an output ignores the consumer settings it carries',
      binding: { ...output(), consumer: { ...output().consumer, concurrency: 4 } },
      options: {},
      expected: { topic: { name: 'orders', partitions: 1 } },
    },
    {
      case: 'an input that also knows the producer partitionCount',
      binding: input('audit', { partitioned: true, instanceCount: 2 }, { partitionCount: 8 }),
      options: {},
      expected: { topic: { name: 'orders', partitions: 8 }, consumerGroup: 'audit', startOffset: 'earliest' },
    },
  ])('$case', ({ binding, options, expected }) => {
    expect(kafkaTopology(binding, options)).toEqual(expected);
  });
});
