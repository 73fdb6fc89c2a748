import { describe, expect, it } from 'vitest';
import type { StreamBindingSpec } from '../../../../operator/src/api/types.ts';
import { bindingTopology, topologyStatus } from '../../../../operator/src/controller/topology.ts';
import { objectIds, withoutObjects } from '../../../../topology/desired.ts';

describe('desiredTopology -> status.topology', () => {
  it.each<[string, StreamBindingSpec, 'rabbit' | 'kafka', object]>([
    ['a rabbit group input with dead letters', { direction: 'input', destination: 'studyExchange', group: 'atguiguA', consumer: { deadLetter: true } }, 'rabbit',
      { exchange: 'studyExchange', queues: ['studyExchange.atguiguA'], deadLetterQueue: 'studyExchange.atguiguA.dlq' }],
    ['a rabbit group input by default: no dead letters, as Spring', { direction: 'input', destination: 'd', group: 'g' }, 'rabbit',
      { exchange: 'd', queues: ['d.g'] }],
    ['a rabbit anonymous input: the exchange only', { direction: 'input', destination: 'd' }, 'rabbit', { exchange: 'd', queues: [] }],
    ['a rabbit output', { direction: 'output', destination: 'd' }, 'rabbit', { exchange: 'd', queues: [] }],
    ['a partitioned rabbit output with a required group', { direction: 'output', destination: 'd', producer: { partitionCount: 2, requiredGroups: ['g'] } }, 'rabbit',
      { exchange: 'd', queues: ['d.g-0', 'd.g-1'] }],
    ['a partitioned rabbit output with a dead-lettered required group', { direction: 'output', destination: 'd', producer: { partitionCount: 2, requiredGroups: ['g'], deadLetter: true } }, 'rabbit',
      { exchange: 'd', queues: ['d.g-0', 'd.g-1'], deadLetterQueue: 'd.g.dlq' }],
    ['a kafka group input with dead letters', { direction: 'input', destination: 'orders', group: 'billing', consumer: { deadLetter: true } }, 'kafka',
      { topic: 'orders', partitions: 1, deadLetterTopic: 'error.orders.billing' }],
    ['a kafka group input by default', { direction: 'input', destination: 'orders', group: 'billing' }, 'kafka', { topic: 'orders', partitions: 1 }],
    ['a partitioned kafka output', { direction: 'output', destination: 'orders', producer: { partitionCount: 4 } }, 'kafka', { topic: 'orders', partitions: 4 }],
    ['a kafka anonymous input', { direction: 'input', destination: 'orders' }, 'kafka', { topic: 'orders', partitions: 1 }],
  ])('%s', (_, spec, type, expected) => {
    expect(topologyStatus(bindingTopology(spec, type))).toEqual(expected);
  });
});

describe('withoutObjects (the sharing rule)', () => {
  it.each<[string, StreamBindingSpec, string[], string[]]>([
    ['nothing shared: everything but the DLX', { direction: 'input', destination: 'd', group: 'g', consumer: { deadLetter: true } }, [], ['exchange:d', 'queue:d.g', 'queue:d.g.dlq']],
    ['the exchange used by an output stays', { direction: 'input', destination: 'd', group: 'g', consumer: { deadLetter: true } }, ['exchange:d'], ['queue:d.g', 'queue:d.g.dlq']],
    ['a queue shared by a second input of the group stays', { direction: 'input', destination: 'd', group: 'g', consumer: { deadLetter: true } }, ['exchange:d', 'queue:d.g', 'queue:d.g.dlq'], []],
  ])('%s', (_, spec, inUse, deletable) => {
    expect(objectIds(withoutObjects(bindingTopology(spec, 'rabbit'), new Set(inUse)))).toEqual(deletable);
  });
});
