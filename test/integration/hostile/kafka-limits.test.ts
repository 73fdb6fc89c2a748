/**
 * Kafka's own size limit (the topic's `max.message.bytes`, 1 MiB + 12 bytes by default) on the
 * real broker: a message over it is refused with 413 before it is sent, and sends that are
 * each small enough never fail together because the produce request that carries them would
 * be too large.
 */
import { afterAll, expect, it } from 'vitest';
import { testEnv } from '../../support/env.ts';
import { send, sidecarFrom, unique } from '../runtime/support.ts';
import { rawKafka } from '../kafka/support.ts';

const raw = rawKafka();
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await raw.cleanup();
});

it('refuses what the topic cannot take with 413, and batches concurrent sends within the topic\'s limit', async () => {
  const destination = unique('hostile-kafka-size');
  raw.track({ topics: [destination] });
  const running = await sidecarFrom(`binders: { kafka: { type: kafka, kafka: { brokers: [${testEnv().kafkaBrokers.join(', ')}] } } }
bindings: { out: { direction: output, destination: ${destination}, contentType: application/octet-stream, maxMessageBytes: 4194304 } }`);
  cleanups.push(() => running.close());

  const tooLarge = await send(running, 'out', Buffer.alloc(1024 * 1024, 0x61), { 'content-type': 'application/octet-stream' });
  expect([tooLarge.status, tooLarge.body.code]).toEqual([413, 'BINDERY_ERR_PAYLOAD_TOO_LARGE']);
  expect(String(tooLarge.body.message)).toContain('max.message.bytes');

  const fits = await send(running, 'out', Buffer.alloc(1024 * 1024 - 1024, 0x62), { 'content-type': 'application/octet-stream', 'x-msg-id': 'fits' });
  expect(fits.status, JSON.stringify(fits.body)).toBe(202);

  // Twenty at once, 200 KB each: 4 MB in all, in requests the topic takes.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    send(running, 'out', Buffer.alloc(200 * 1024, 0x63), { 'content-type': 'application/octet-stream', 'x-msg-id': `burst-${i}` })));
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
  const stored = await raw.read(destination, 21);
  expect(stored).toHaveLength(21);
});
