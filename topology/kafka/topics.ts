/**
 * Creates Kafka topics when missing and grows them when they have fewer partitions than
 * wanted, never shrinking one: the one "ensure topics" of the sidecar's kafka binder and the
 * operator's Kafka session.
 *
 * Several creators may race on one topic (two sidecars of a group starting together, the
 * operator beside them). Each step therefore accepts the other's success as its own: a topic
 * that appeared between the look-up and CreateTopics is "already exists", and a grow refused
 * because someone grew it first is fine as long as the topic has enough partitions now. A
 * topic just created may not have its metadata on every broker yet; such retriable errors are
 * tried again with the shared retry policy.
 */
import type { Admin } from 'kafkajs';
import { systemClock, type Clock } from '../../time/clock.ts';
import { retry, type RetryPolicy } from '../../time/retry.ts';
import type { KafkaTopic } from './desired.ts';

export const ENSURE_TOPICS_RETRY: RetryPolicy = { initialMs: 200, multiplier: 2, maxMs: 1_000, maxAttempts: 5 };

export interface EnsureTopicsOptions {
  clock?: Clock;
  retry?: RetryPolicy;
  /** Counts broker calls (the operator proves with it that an unchanged resync writes nothing). */
  onCall?: (kind: 'read' | 'write') => void;
  /** Told of each topic created or grown, for a log line. */
  onChange?: (change: { topic: string; partitions: number; from?: number }) => void;
}

/** Ensures every topic; resolves to the partitions each has now. */
export async function ensureTopics(admin: Admin, topics: readonly KafkaTopic[], options: EnsureTopicsOptions = {}): Promise<Map<string, number>> {
  if (topics.length === 0) return new Map();
  return retry(options.retry ?? ENSURE_TOPICS_RETRY, () => ensureOnce(admin, topics, options), {
    clock: options.clock ?? systemClock,
    retryable: (error) => (error as { retriable?: boolean }).retriable === true,
  });
}

async function ensureOnce(admin: Admin, topics: readonly KafkaTopic[], options: EnsureTopicsOptions): Promise<Map<string, number>> {
  const count = options.onCall ?? (() => undefined);
  // Looked up first: kafkajs logs a refused CreateTopics as a broker error.
  const existing = await partitionCounts(admin, topics.map((t) => t.name), count);
  const missing = topics.filter((t) => !existing.has(t.name));
  if (missing.length > 0) {
    count('write');
    await admin.createTopics({ waitForLeaders: true, topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })) });
  }
  // What exists now, whoever created it: a concurrent creator may have used fewer partitions.
  const now = missing.length === 0 ? existing : await partitionCounts(admin, topics.map((t) => t.name), count);
  for (const topic of missing) {
    if (now.get(topic.name) === topic.partitions) options.onChange?.({ topic: topic.name, partitions: topic.partitions });
  }
  const grow = topics.filter((t) => (now.get(t.name) ?? 0) < t.partitions);
  if (grow.length > 0) {
    count('write');
    try {
      await admin.createPartitions({ topicPartitions: grow.map((t) => ({ topic: t.name, count: t.partitions })) });
    } catch (error) {
      // Someone else grew it first: what counts is that every topic has enough now.
      const after = await partitionCounts(admin, grow.map((t) => t.name), count);
      if (grow.some((t) => (after.get(t.name) ?? 0) < t.partitions)) throw new GrowRefused(error);
      for (const [name, partitions] of after) now.set(name, partitions);
      return now;
    }
    for (const topic of grow) {
      options.onChange?.({ topic: topic.name, partitions: topic.partitions, from: now.get(topic.name) });
      now.set(topic.name, topic.partitions);
    }
  }
  return now;
}

/**
 * A grow refused while the topic still reads as too small. Kafka refuses a grow to a count the
 * topic already has ("Number of partitions is invalid"), and a topic created a moment ago can
 * still be missing from the metadata read that decided to grow it, or read with fewer
 * partitions: the whole ensure is tried again, within the retry policy, with a fresh read.
 */
class GrowRefused extends Error {
  readonly retriable = true;

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'GrowRefused';
  }
}

/** Partition counts of those of `names` that exist. */
async function partitionCounts(admin: Admin, names: string[], count: (kind: 'read') => void): Promise<Map<string, number>> {
  count('read');
  const wanted = new Set(names);
  const present = (await admin.listTopics()).filter((name) => wanted.has(name));
  if (present.length === 0) return new Map();
  count('read');
  const metadata = await admin.fetchTopicMetadata({ topics: present });
  return new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
}
