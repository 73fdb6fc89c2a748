import { describe, expect, it } from 'vitest';
import { PartitionProgress } from '../../../../../runtime/src/binders/kafka/offsets.ts';

type Step = ['accept', number, boolean] | ['settle', number] | ['commit'];

describe('PartitionProgress: in-order commit positions', () => {
  it.each<{ case: string; steps: Step[]; position: number | undefined; pending: number | undefined; unsettled: number }>([
    { case: 'nothing fetched yet', steps: [], position: undefined, pending: undefined, unsettled: 0 },
    { case: 'fetched, nothing settled: the position stays at the first record', steps: [['accept', 5, true], ['accept', 6, true]], position: 5, pending: 5, unsettled: 2 },
    { case: 'settled in order', steps: [['accept', 5, true], ['accept', 6, true], ['settle', 5], ['settle', 6]], position: 7, pending: 7, unsettled: 0 },
    { case: 'a later record settled first does not move the position', steps: [['accept', 5, true], ['accept', 6, true], ['settle', 6]], position: 5, pending: 5, unsettled: 1 },
    { case: 'then the earlier one: the position jumps past both', steps: [['accept', 5, true], ['accept', 6, true], ['settle', 6], ['settle', 5]], position: 7, pending: 7, unsettled: 0 },
    { case: 'gaps in offsets (compaction, transactions) are fine', steps: [['accept', 10, true], ['accept', 14, true], ['settle', 10]], position: 14, pending: 14, unsettled: 1 },
    { case: 'a refetch after a rebalance is not taken twice', steps: [['accept', 5, true], ['accept', 6, true], ['accept', 5, false], ['accept', 6, false], ['accept', 7, true]], position: 5, pending: 5, unsettled: 3 },
    { case: 'nothing to commit once committed', steps: [['accept', 5, true], ['settle', 5], ['commit']], position: 6, pending: undefined, unsettled: 0 },
  ])('$case', ({ steps, position, pending, unsettled }) => {
    const progress = new PartitionProgress();
    for (const step of steps) {
      if (step[0] === 'accept') expect(progress.accept(step[1])).toBe(step[2]);
      else if (step[0] === 'settle') progress.settle(step[1]);
      else progress.committed = progress.position();
    }
    expect(progress.position()).toBe(position);
    expect(progress.pendingCommit()).toBe(pending);
    expect(progress.unsettled()).toBe(unsettled);
  });

  it.each([
    [[], 10, 0],
    [[0, 1, 2], 10, 10],
    [[0, 1, 2], 3, 3],
  ])('lag with records %j accepted and high watermark %i is %i', (accepted, highWatermark, lag) => {
    const progress = new PartitionProgress();
    for (const offset of accepted) progress.accept(offset);
    expect(progress.lag(highWatermark)).toBe(lag);
  });

  it('keeps working over many records settled out of order', () => {
    const progress = new PartitionProgress();
    for (let i = 0; i < 5000; i++) progress.accept(i);
    for (let i = 4999; i >= 1; i--) progress.settle(i);
    expect(progress.position()).toBe(0);
    progress.settle(0);
    expect(progress.position()).toBe(5000);
    expect(progress.unsettled()).toBe(0);
  });
});
