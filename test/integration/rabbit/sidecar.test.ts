/**
 * The sidecar on the real RabbitMQ, pulled over SSE: a message a listener keeps nacking
 * comes back with its attempt counted up (a classic queue only says "redelivered") and
 * lands in `<destination>.<group>.dlq` after maxAttempts with the SPEC headers. An output
 * whose topology the broker refuses says why at once instead of waiting out each send.
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

it('an output whose required group the broker refuses answers sends with 503 naming why, and tries again when started', async () => {
  const refused = uniqueDestination('http-refused');
  const raw = await rawRabbit();
  try {
    // A queue declared without dead letters, as a Spring consumer with autoBindDlq false leaves it.
    await raw.channel.assertExchange(refused, 'topic', { durable: true });
    await raw.channel.assertQueue(`${refused}.g`, { durable: true });
    const running = await sidecarFrom(`binders: { rabbit: { type: rabbit, rabbit: { url: "${testEnv().rabbitUrl}" } } }
bindings: { output: { direction: output, destination: ${refused}, producer: { requiredGroups: [g], deadLetter: true } } }`);
    try {
      const conflict = `queue '${refused}.g': it exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX`;
      await waitFor('the refusal', () => running.sidecar.bindings()[0]?.error !== undefined, 10_000);
      const started = Date.now();
      const answer = await send(running, 'output', '{}');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect([answer.status, answer.body.code]).toEqual([503, 'BINDERY_ERR_BINDER_UNAVAILABLE']);
      expect(answer.body.message).toContain(conflict);
      const readiness = await fetch(`${running.opsUrl}/readyz`);
      expect(readiness.status).toBe(503);
      expect(((await readiness.json()) as { bindings: Record<string, string> }).bindings.output).toContain(conflict);

      // Someone removes the old queue; starting the binding declares its topology again.
      await raw.channel.deleteQueue(`${refused}.g`);
      expect((await post(`${running.apiUrl}/v1/bindings/output/state`, { state: 'started' })).status).toBe(200);
      await waitFor('the output to be accepted', async () => (await send(running, 'output', '{}')).status === 202, 10_000);
      expect(running.sidecar.bindings()[0]).not.toHaveProperty('error');
      expect((await fetch(`${running.opsUrl}/readyz`)).status).toBe(200);
    } finally {
      await running.close();
    }
  } finally {
    await raw.deleteAll({ exchanges: [refused], queues: [`${refused}.g`, `${refused}.g.dlq`] });
    await raw.close();
  }
});
