/**
 * The sidecar on the real RabbitMQ, pulled over SSE: a message a listener keeps nacking
 * comes back with its attempt counted up (a classic queue only says "redelivered") and
 * lands in `<destination>.<group>.dlq` after maxAttempts with the SPEC headers.
 */
import { afterAll, expect, it } from 'vitest';
import type { RunningSidecar } from '../../../runtime/src/server.ts';
import { testEnv } from '../../support/env.ts';
import { post, send, sidecarFrom, SseReader, waitFor } from '../runtime/support.ts';
import { rawRabbit, uniqueDestination } from './support.ts';

const destination = uniqueDestination('http-sse-dlq');
let sidecar: RunningSidecar | undefined;
let listener: SseReader | undefined;

afterAll(async () => {
  await listener?.close();
  await sidecar?.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`, `${destination}.g.dlq`] });
  await raw.close();
});

it('dead-letters a message an SSE listener nacks maxAttempts times, counting attempts 1, 2, 3', async () => {
  sidecar = await sidecarFrom([
    `binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }`,
    'bindings:',
    `  output: { direction: output, destination: ${destination}, producer: { requiredGroups: [g], deadLetter: true } }`,
    `  input: { direction: input, destination: ${destination}, group: g, consumer: { maxAttempts: 3, deadLetter: true } }`,
  ].join('\n'));
  listener = await SseReader.open(`${sidecar.apiUrl}/v1/listen/input?ack=manual`);
  expect(listener.status).toBe(200);

  const sent = await send(sidecar, 'output', JSON.stringify({ n: 1 }), { 'content-type': 'application/json', 'x-msg-id': 'nacked' });
  expect(sent.status).toBe(202);
  for (let attempt = 1; attempt <= 3; attempt++) {
    await waitFor(`delivery attempt ${attempt}`, () => listener!.events.length === attempt, 10_000);
    const event = listener.events[attempt - 1]!;
    expect(event.data).toMatchObject({ id: 'nacked', attempt });
    expect((await post(`${sidecar.apiUrl}/v1/nack/input/nacked`)).status).toBeLessThan(300);
  }

  const raw = await rawRabbit();
  try {
    const dead = await raw.getOne(`${destination}.g.dlq`);
    expect(JSON.parse(dead.content.toString())).toEqual({ n: 1 });
    expect(dead.properties).toMatchObject({ deliveryMode: 2, contentType: 'application/json', messageId: 'nacked' });
    expect(dead.properties.headers).toMatchObject({
      'x-exception-message': expect.any(String),
      'x-original-exchange': destination,
      'x-original-routingKey': destination,
    });
  } finally {
    await raw.close();
  }
  expect(listener.events).toHaveLength(3);
});
