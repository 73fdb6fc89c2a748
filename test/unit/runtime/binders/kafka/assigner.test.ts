import { AssignerProtocol } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { rangeAssignment, rangeAssigner } from '../../../../../runtime/src/binders/kafka/assigner.ts';

describe('rangeAssignment (Java RangeAssignor)', () => {
  it.each([
    {
      case: 'one member takes every partition',
      subscriptions: [{ memberId: 'a', topics: ['t'] }],
      partitions: { t: 3 },
      expected: { a: { t: [0, 1, 2] } },
    },
    {
      case: 'two members, odd count: the first in memberId order takes the extra one',
      subscriptions: [{ memberId: 'b', topics: ['t'] }, { memberId: 'a', topics: ['t'] }],
      partitions: { t: 3 },
      expected: { a: { t: [0, 1] }, b: { t: [2] } },
    },
    {
      case: 'more members than partitions: the last ones get nothing',
      subscriptions: [{ memberId: 'a', topics: ['t'] }, { memberId: 'b', topics: ['t'] }, { memberId: 'c', topics: ['t'] }],
      partitions: { t: 2 },
      expected: { a: { t: [0] }, b: { t: [1] }, c: {} },
    },
    {
      case: 'one group name on two topics: each topic goes to its own subscribers only',
      subscriptions: [{ memberId: 'a', topics: ['orders'] }, { memberId: 'b', topics: ['audit'] }],
      partitions: { orders: 2, audit: 2 },
      expected: { a: { orders: [0, 1] }, b: { audit: [0, 1] } },
    },
    {
      case: 'members on several topics, ranges per topic',
      subscriptions: [{ memberId: 'a', topics: ['x', 'y'] }, { memberId: 'b', topics: ['x', 'y'] }],
      partitions: { x: 4, y: 5 },
      expected: { a: { x: [0, 1], y: [0, 1, 2] }, b: { x: [2, 3], y: [3, 4] } },
    },
  ])('$case', ({ subscriptions, partitions, expected }) => {
    expect(rangeAssignment(subscriptions, (topic) => partitions[topic as keyof typeof partitions] ?? 0)).toEqual(expected);
  });

  it('speaks the Java consumer protocol: name "range", version 0 subscription and assignment layouts', async () => {
    const metadata: Record<string, number> = { orders: 2 };
    const cluster = {
      addMultipleTargetTopics: async () => {},
      findTopicPartitionMetadata: (topic: string) => Array.from({ length: metadata[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
    };
    const assigner = rangeAssigner({ cluster, groupId: 'g', logger: undefined } as never);
    const state = assigner.protocol({ topics: ['orders'] });
    expect(state.name).toBe('range');
    // Java's ConsumerProtocolSubscription v0: int16 version, array of topics, bytes user data.
    expect([...state.metadata]).toEqual([0, 0, 0, 0, 0, 1, 0, 6, ...Buffer.from('orders'), 0, 0, 0, 0]);
    const assigned = await assigner.assign({ members: [{ memberId: 'm1', memberMetadata: state.metadata }], topics: ['orders'] });
    expect(AssignerProtocol.MemberAssignment.decode(assigned[0]!.memberAssignment)).toEqual({
      version: 0,
      assignment: { orders: [0, 1] },
      userData: Buffer.alloc(0),
    });
  });
});
