/**
 * Bulk send on the real RabbitMQ: a request of many ndjson lines is answered only after the
 * broker confirmed every message, and the messages sit in the group queue in line order.
 */
import { afterAll, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { send, sidecarFrom } from '../runtime/support.ts';
import { rawRabbit, uniqueDestination } from './support.ts';

const destination = uniqueDestination('bulk-send');
let sidecar: RunningSidecar | undefined;

afterAll(async () => {
  await sidecar?.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`] });
  await raw.close();
});

it('answers once all 500 lines are confirmed, and the group queue holds them in line order', async () => {
  sidecar = await sidecarFrom([
    `binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }`,
    'bindings:',
    `  output: { direction: output, destination: ${destination}, producer: { requiredGroups: [g] } }`,
  ].join('\n'));
  const count = 500;
  const body = Array.from({ length: count }, (_, n) => JSON.stringify({ id: `m-${n}`, payload: { n } })).join('\n');
  const answer = await send(sidecar, 'output', body, { 'content-type': 'application/x-ndjson' });
  expect(answer.status).toBe(200);
  const results = answer.body.results as Array<{ statusCode: number; id: string }>;
  expect(results.map((r) => r.statusCode)).toEqual(Array(count).fill(202));
  expect(results.map((r) => r.id)).toEqual(Array.from({ length: count }, (_, n) => `m-${n}`));

  const raw = await rawRabbit();
  try {
    // Confirmed before the answer: every message is in the queue now, without waiting.
    expect((await raw.channel.checkQueue(`${destination}.g`)).messageCount).toBe(count);
    const seen: number[] = [];
    for (let n = 0; n < count; n++) {
      const message = await raw.getOne(`${destination}.g`);
      expect(message.properties).toMatchObject({ messageId: `m-${n}`, deliveryMode: 2, contentType: 'application/json' });
      seen.push((JSON.parse(message.content.toString()) as { n: number }).n);
    }
    expect(seen).toEqual(Array.from({ length: count }, (_, n) => n));
  } finally {
    await raw.close();
  }
});
