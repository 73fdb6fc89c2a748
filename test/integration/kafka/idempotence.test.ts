/**
 * Kafka's idempotent producer numbers each partition's batches, and Kafka answers a batch
 * whose numbers it already wrote as a success without writing it. Different records must
 * never carry numbers Kafka has seen: after a request whose answer was lost, a retried record
 * goes where its first attempt went, and a producer whose send failed is replaced
 * (docs/adr/0044-a-new-kafka-producer-after-an-unknown-outcome.md). Either mistake
 * acknowledges a message Kafka never stored.
 */
import { afterAll, expect, it } from 'vitest';
import type { Binder } from '../../../runtime/src/binders/binder.ts';
import type { KafkaBinderOptions } from '../../../runtime/src/binders/kafka/index.ts';
import { freezeKafka } from '../../support/env.ts';
import { kafkaBinder, message, outputBinding, rawKafka, uniqueDestination, waitFor } from './support.ts';

const raw = rawKafka();
let binder: Binder | undefined;

afterAll(async () => {
  await binder?.close();
  await raw.cleanup();
});

/** Every record of `topic`, once its end offsets stop moving. */
async function everyRecord(topic: string): Promise<string[]> {
  const admin = await raw.admin();
  let last = -1;
  let total = 0;
  await waitFor(`the writes to ${topic} to settle`, async () => {
    const offsets = await admin.fetchTopicOffsets(topic);
    total = offsets.reduce((sum, p) => sum + Number(p.high), 0);
    const stable = total === last;
    last = total;
    if (!stable) await new Promise((resolve) => setTimeout(resolve, 1_000));
    return stable;
  }, 60_000);
  const records = await raw.read(topic, total);
  return records.map((r) => (JSON.parse(r.value!.toString()) as { id: string }).id);
}

/**
 * Kafka is frozen (SIGSTOP) longer than the client waits for an answer, under a stream of
 * sends to a topic of two partitions, so that a produce request Kafka received before the
 * freeze is answered too late: Kafka wrote it, the client counts it as failed.
 */
it.each<[string, KafkaBinderOptions]>([
  ['the client retries the request and the send succeeds', { requestTimeout: 1_000 }],
  ['the client gives up and the send fails', { requestTimeout: 1_000, sendRetries: 1 }],
])('a broker stalled past the request timeout, %s: every acknowledged send is stored', async (_case, options) => {
  const destination = uniqueDestination('kafka-idempotence');
  raw.track({ topics: [destination] });
  await binder?.close();
  // The probe would notice the freeze and refuse sends meanwhile; the test is about the sends.
  binder = kafkaBinder({ ...options, probeInterval: { up: 60_000, down: 200 } });
  await binder.connect();
  const producer = await binder.createProducer(outputBinding(destination, { partitionCount: 2 }));
  const acked: string[] = [];
  let failed = 0;
  let sending = true;
  const stream = (async () => {
    for (let i = 0; sending; i++) {
      const id = `i-${i}`;
      try {
        await producer.send(message(id));
        acked.push(id);
      } catch {
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();
  await waitFor('40 acknowledged sends', () => acked.length >= 40);
  await freezeKafka(4_000);
  const before = acked.length;
  await waitFor('40 acknowledged sends after the freeze', () => acked.length >= before + 40, 60_000);
  sending = false;
  await stream;
  const stored = new Set(await everyRecord(destination));
  expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  if (options.sendRetries === 1) expect(failed).toBeGreaterThan(0);
}, 120_000);
