/**
 * A consumer group's backlog on a topic, from what the admin client reads: each partition's
 * offsets and the group's committed offsets (kafkajs gives them as strings).
 */

export interface PartitionEnd {
  partition: number;
  /** The earliest offset still retained. */
  low: string;
  /** The offset the next record will get. */
  high: string;
}

export interface CommittedOffset {
  partition: number;
  /** "-1" where the group has committed nothing. */
  offset: string;
}

/**
 * Records of `ends` the group has not consumed: end offset less committed offset, summed over
 * the partitions. A partition the group never committed on counts from its earliest retained
 * record, as a group that starts at `earliest` reads it; a commit before the retained records
 * (deleted by retention) counts from there too.
 */
export function groupBacklog(ends: readonly PartitionEnd[], committed: readonly CommittedOffset[]): number {
  const positions = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
  let backlog = 0;
  for (const end of ends) {
    const position = Math.max(positions.get(end.partition) ?? -1, Number(end.low));
    backlog += Math.max(0, Number(end.high) - position);
  }
  return backlog;
}
