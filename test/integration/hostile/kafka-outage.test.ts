/**
 * Kafka killed (`kill -9`) under a stream of sends: the sidecar notices at once and answers
 * 503 within a second or two, never 504 for a message it could not send, and nothing it
 * answered 202 is lost once Kafka is back.
 */
import { afterAll, expect, it } from 'vitest';
import { killKafka, startKafka, testEnv } from '../../support/env.ts';
import { send, sidecarFrom, unique, waitFor } from '../runtime/support.ts';
import { rawKafka } from '../kafka/support.ts';

const raw = rawKafka();
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await startKafka();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await raw.cleanup();
});

it('answers 503 promptly while Kafka is gone, never 504, and loses nothing it accepted', async () => {
  const destination = unique('hostile-outage');
  raw.track({ topics: [destination] });
  const running = await sidecarFrom(`binders: { kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } } }
bindings: { out: { direction: output, destination: ${destination} } }`);
  cleanups.push(() => running.close());

  const accepted = new Set<string>();
  const answers: Array<{ status: number; at: number }> = [];
  let sending = true;
  let n = 0;
  const sender = async (): Promise<void> => {
    while (sending) {
      const id = `m-${n++}`;
      const answer = await send(running, 'out', JSON.stringify({ id }), { 'content-type': 'application/json', 'x-msg-id': id });
      answers.push({ status: answer.status, at: Date.now() });
      if (answer.status === 202) accepted.add(id);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const senders = Array.from({ length: 8 }, () => sender());
  await waitFor('sends accepted', () => accepted.size >= 200, 20_000);

  const killedAt = Date.now();
  await killKafka();
  await waitFor('the first 503', () => answers.some((a) => a.at > killedAt && a.status === 503), 10_000);
  const first503 = answers.find((a) => a.at > killedAt && a.status === 503)!.at - killedAt;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await startKafka();
  const before = accepted.size;
  await waitFor('sends accepted again', () => accepted.size >= before + 100, 60_000);
  sending = false;
  await Promise.all(senders);

  const count = (status: number): number => answers.filter((a) => a.status === status).length;
  console.log(`kafka kill -9: first 503 after ${first503} ms; ${accepted.size} sends 202'd, ${count(503)} answered 503, ${count(504)} answered 504`);
  expect(first503).toBeLessThan(2_500);
  expect(answers.filter((a) => a.status === 504)).toEqual([]);
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202, 503]));
  const stored = new Set((await raw.read(destination, accepted.size, 30_000)).map((r) => JSON.parse(String(r.value)).id as string));
  expect([...accepted].filter((id) => !stored.has(id))).toEqual([]);
}, 180_000);
