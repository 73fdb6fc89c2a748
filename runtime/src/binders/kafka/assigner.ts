/**
 * The consumer group's partition assignment: Kafka's `range` strategy, the Java consumer's
 * default, under its protocol name. Two reasons:
 * - A Bindery sidecar and a Spring Cloud Stream service sharing a group must agree on a
 *   protocol the broker can choose; the Java client offers `range` (and cooperative-sticky),
 *   kafkajs only its own `RoundRobinAssigner`. The metadata and assignment layouts of
 *   kafkajs (version 0) are those of the Java client, so either side may lead the group.
 * - kafkajs' round-robin assigner ignores what each member subscribed to: with one group name
 *   on two destinations (SCSt allows it, the seed does it), members got partitions of topics
 *   they never read. Range assigns each topic among the members that subscribed to it.
 */
import { AssignerProtocol, type Assigner, type GroupMember, type PartitionAssigner } from 'kafkajs';

export interface Subscription {
  memberId: string;
  topics: string[];
}

/** memberId -> topic -> partitions, as Java's RangeAssignor computes it. */
export type GroupAssignment = Record<string, Record<string, number[]>>;

/**
 * For each topic, its members in memberId order each take a contiguous range; the first
 * `partitions % members` take one more.
 */
export function rangeAssignment(subscriptions: Subscription[], partitionsOf: (topic: string) => number): GroupAssignment {
  const assignment: GroupAssignment = Object.fromEntries(subscriptions.map((s) => [s.memberId, {}]));
  const topics = [...new Set(subscriptions.flatMap((s) => s.topics))].sort();
  for (const topic of topics) {
    const members = subscriptions.filter((s) => s.topics.includes(topic)).map((s) => s.memberId).sort();
    const partitions = partitionsOf(topic);
    const each = Math.floor(partitions / members.length);
    const extra = partitions % members.length;
    members.forEach((memberId, i) => {
      const start = each * i + Math.min(i, extra);
      const length = each + (i < extra ? 1 : 0);
      if (length > 0) assignment[memberId]![topic] = Array.from({ length }, (_, k) => start + k);
    });
  }
  return assignment;
}

export const RANGE = 'range';

export const rangeAssigner: PartitionAssigner = ({ cluster }) => {
  const assigner: Assigner = {
    name: RANGE,
    version: 0,
    async assign({ members }: { members: GroupMember[]; topics: string[] }) {
      const subscriptions = members.map(({ memberId, memberMetadata }) => ({
        memberId,
        topics: AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics ?? [],
      }));
      // kafkajs hands the leader only its own topics: the others' need their metadata too.
      await cluster.addMultipleTargetTopics([...new Set(subscriptions.flatMap((s) => s.topics))]);
      const assignment = rangeAssignment(subscriptions, (topic) => cluster.findTopicPartitionMetadata(topic).length);
      return members.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: assignment[memberId] ?? {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return { name: RANGE, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  };
  return assigner;
};
