import { describe, expect, it } from 'vitest';
import { groupBacklog } from '../../../../topology/kafka/backlog.ts';

const end = (partition: number, low: number, high: number) => ({ partition, low: String(low), high: String(high) });
const at = (partition: number, offset: number) => ({ partition, offset: String(offset) });

describe('groupBacklog', () => {
  it.each([
    { case: 'an empty topic', ends: [end(0, 0, 0)], committed: [], expected: 0 },
    { case: 'a group that committed nothing: every retained record', ends: [end(0, 0, 7), end(1, 0, 3)], committed: [at(0, -1), at(1, -1)], expected: 10 },
    { case: 'no offsets returned for the group at all', ends: [end(0, 0, 7)], committed: [], expected: 7 },
    { case: 'end less committed, summed over partitions', ends: [end(0, 0, 10), end(1, 0, 5), end(2, 0, 8)], committed: [at(0, 4), at(1, 5), at(2, 0)], expected: 14 },
    { case: 'a group that caught up', ends: [end(0, 0, 10), end(1, 2, 5)], committed: [at(0, 10), at(1, 5)], expected: 0 },
    { case: 'a commit before the retained records counts from the earliest', ends: [end(0, 100, 120)], committed: [at(0, 40)], expected: 20 },
    { case: 'uncommitted partition with records deleted by retention', ends: [end(0, 100, 120)], committed: [at(0, -1)], expected: 20 },
  ])('$case: $expected', ({ ends, committed, expected }) => {
    expect(groupBacklog(ends, committed)).toBe(expected);
  });
});
