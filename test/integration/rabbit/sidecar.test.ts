/**
 * The sidecar on the real RabbitMQ: a message the app keeps failing (push), or that a
 * listener keeps nacking (SSE), is retried, then lands in `<destination>.<group>.dlq` after
 * maxAttempts with the SPEC headers.
 */
import { afterAll, expect, it } from 'vitest';
import { inputBinding, outputBinding, rawRabbit, uniqueDestination } from './support.ts';
import { pushTarget, rabbitSidecar, sendJson, type Closable } from './sidecar-support.ts';

const destination = uniqueDestination('http-dlq');
const sseDestination = uniqueDestination('http-sse-dlq');
const closing: Closable[] = [];

afterAll(async () => {
  for (const resource of closing.reverse()) await resource.close();
  const raw = await rawRabbit();
  for (const name of [destination, sseDestination]) {
    await raw.deleteAll({ exchanges: [name], queues: [`${name}.g`, `${name}.g.dlq`] });
  }
  await raw.close();
});

it('dead-letters a message the app keeps failing into <destination>.<group>.dlq after maxAttempts', async () => {
  const target = await pushTarget(() => 500);
  closing.push(target);
  const sidecar = await rabbitSidecar([
    outputBinding(destination, { requiredGroups: ['g'] }),
    inputBinding(destination, 'g', { maxAttempts: 3, backOffInitialInterval: 10, backOffMaxInterval: 20 }),
  ], target.port);
  closing.push(sidecar);

  expect((await sendJson(sidecar.base, 'poison')).status).toBe(202);

  const raw = await rawRabbit();
  closing.push(raw);
  const dead = await raw.getOne(`${destination}.g.dlq`);
  expect(JSON.parse(dead.content.toString())).toEqual({ id: 'poison' });
  expect(dead.properties).toMatchObject({ deliveryMode: 2, contentType: 'application/json', messageId: 'poison' });
  expect(dead.properties.headers).toMatchObject({
    'x-exception-message': expect.stringMatching(/500/),
    'x-original-exchange': destination,
    'x-original-routingKey': destination,
  });
  expect(target.ids).toEqual(['poison', 'poison', 'poison']);
});

it('dead-letters a message an SSE listener nacks maxAttempts times', async () => {
  const sidecar = await rabbitSidecar([
    outputBinding(sseDestination, { requiredGroups: ['g'] }),
    inputBinding(sseDestination, 'g', { maxAttempts: 3 }),
  ]);
  closing.push(sidecar);
  const listening = new AbortController();
  closing.push({ close: async () => listening.abort() });
  const response = await fetch(`${sidecar.base}/v1/listen/input?ack=manual`, { signal: listening.signal });
  expect(response.status).toBe(200);

  expect((await sendJson(sidecar.base, 'nacked')).status).toBe(202);
  const attempts: number[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  while (attempts.length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    const events = buffered.split('\n\n');
    buffered = events.pop()!;
    for (const event of events) {
      const data = event.split('\n').find((line) => line.startsWith('data:'));
      if (data === undefined) continue;
      const message = JSON.parse(data.slice(5)) as { id: string; attempt: number };
      attempts.push(message.attempt);
      const nack = await fetch(`${sidecar.base}/v1/nack/input/${message.id}`, { method: 'POST' });
      expect(nack.status).toBeLessThan(300);
    }
  }
  expect(attempts).toEqual([1, 2, 3]);

  const raw = await rawRabbit();
  closing.push(raw);
  const dead = await raw.getOne(`${sseDestination}.g.dlq`);
  expect(dead.properties.messageId).toBe('nacked');
  expect(dead.properties.headers).toMatchObject({ 'x-original-exchange': sseDestination, 'x-exception-message': expect.any(String) });
});
