/**
 * ensureTopics on the real Kafka, raced: several clients create, then grow, one topic at the
 * same moment (sidecars of one group starting together, the operator beside them). Every one
 * of them must succeed, and the topic must end with the partitions asked for.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../../../topology/kafka/topics.ts';
import { testEnv } from '../../support/env.ts';

const CONTENDERS = 6;
let admins: Admin[] = [];
const created: string[] = [];

beforeAll(async () => {
  // One client each, so their requests race on separate connections as separate processes' would.
  admins = Array.from({ length: CONTENDERS }, (_, i) =>
    new Kafka({ clientId: `ensure-topics-${i}`, brokers: testEnv().kafkaBrokers, logLevel: logLevel.NOTHING }).admin(),
  );
  await Promise.all(admins.map((admin) => admin.connect()));
});

afterAll(async () => {
  if (created.length > 0) await admins[0]?.deleteTopics({ topics: created }).catch(() => undefined);
  await Promise.all(admins.map((admin) => admin.disconnect()));
});

function topicName(): string {
  const name = `ensure-${randomBytes(4).toString('hex')}`;
  created.push(name);
  return name;
}

async function partitions(topic: string): Promise<number> {
  const metadata = await admins[0]!.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0]?.partitions.length ?? 0;
}

describe('ensureTopics with concurrent creators', () => {
  it(`${CONTENDERS} clients creating one new topic at once all succeed, and the topic is created once`, async () => {
    const topic = topicName();
    const results = await Promise.all(admins.map((admin) => ensureTopics(admin, [{ name: topic, partitions: 3 }])));
    for (const result of results) expect(result.get(topic)).toBe(3);
    expect(await partitions(topic)).toBe(3);
  });

  it(`${CONTENDERS} clients growing one topic at once all succeed, and it has the partitions asked for`, async () => {
    const topic = topicName();
    await ensureTopics(admins[0]!, [{ name: topic, partitions: 1 }]);
    const writes: number[] = [];
    const results = await Promise.all(
      admins.map((admin, i) => ensureTopics(admin, [{ name: topic, partitions: 4 }], { onCall: (kind) => kind === 'write' && writes.push(i) })),
    );
    for (const result of results) expect(result.get(topic)).toBe(4);
    expect(await partitions(topic)).toBe(4);
    // Only one grow can win; the others were refused and counted the winner's as their own.
    expect(writes.length).toBeGreaterThanOrEqual(1);
  });

  it('creators asking for different partition counts at once end with the largest, never shrinking', async () => {
    const topic = topicName();
    const wanted = [2, 5, 3, 5, 1, 4];
    const results = await Promise.all(admins.map((admin, i) => ensureTopics(admin, [{ name: topic, partitions: wanted[i]! }])));
    // A creator that lost the race to one with fewer partitions grows the topic itself.
    results.forEach((result, i) => expect(result.get(topic)).toBeGreaterThanOrEqual(wanted[i]!));
    expect(await partitions(topic)).toBe(5);
    await ensureTopics(admins[1]!, [{ name: topic, partitions: 2 }]);
    expect(await partitions(topic)).toBe(5);
  });
});
