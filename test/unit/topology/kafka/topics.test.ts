import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ensureTopics } from '../../../../topology/kafka/topics.ts';

const FAST = { initialMs: 1, multiplier: 1, maxMs: 1, maxAttempts: 3 };

/**
 * An admin client over a one-broker cluster whose metadata reads lag behind a topic just
 * created for `lagReads` reads, as a loaded KRaft broker's do; grows are refused as Kafka
 * refuses them, with a non-retriable "Number of partitions is invalid".
 */
function laggingAdmin(lagReads: number, options: { refuseEveryGrow?: boolean } = {}): { admin: Admin; calls: string[] } {
  const topics = new Map<string, number>();
  const calls: string[] = [];
  let lagging = 0;
  const visible = (): string[] => (lagging > 0 ? [] : [...topics.keys()]);
  const admin = {
    async listTopics() {
      calls.push('listTopics');
      const names = visible();
      if (lagging > 0) lagging -= 1;
      return names;
    },
    async fetchTopicMetadata({ topics: names }: { topics: string[] }) {
      calls.push('fetchTopicMetadata');
      return { topics: names.map((name) => ({ name, partitions: Array.from({ length: topics.get(name) ?? 0 }, (_, i) => ({ partitionId: i })) })) };
    },
    async createTopics({ topics: wanted }: { topics: { topic: string; numPartitions: number }[] }) {
      calls.push('createTopics');
      for (const t of wanted) topics.set(t.topic, t.numPartitions);
      lagging = lagReads;
      return true;
    },
    async createPartitions({ topicPartitions }: { topicPartitions: { topic: string; count: number }[] }) {
      calls.push('createPartitions');
      for (const t of topicPartitions) {
        if (options.refuseEveryGrow || (topics.get(t.topic) ?? 0) >= t.count) {
          throw Object.assign(new Error('Number of partitions is invalid'), { retriable: false, type: 'INVALID_PARTITIONS' });
        }
        topics.set(t.topic, t.count);
      }
    },
  };
  return { admin: admin as unknown as Admin, calls };
}

describe('ensureTopics when the metadata read lags a creation', () => {
  it('a topic just created that reads as missing is not a failure: the refused grow is tried again with a fresh read', async () => {
    const { admin, calls } = laggingAdmin(2);
    const counts = await ensureTopics(admin, [{ name: 'orders', partitions: 1 }], { retry: FAST });
    expect(counts.get('orders')).toBe(1);
    expect(calls.filter((c) => c === 'createTopics')).toHaveLength(1);
    expect(calls).toContain('createPartitions');
  });

  it('a grow Kafka keeps refusing while the topic stays too small fails with Kafka\'s own message once the retries are spent', async () => {
    const { admin, calls } = laggingAdmin(0, { refuseEveryGrow: true });
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] });
    await expect(ensureTopics(admin, [{ name: 'orders', partitions: 3 }], { retry: FAST })).rejects.toThrow('Number of partitions is invalid');
    expect(calls.filter((c) => c === 'createPartitions')).toHaveLength(FAST.maxAttempts);
  });
});
