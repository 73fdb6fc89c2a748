/**
 * The sidecar on the real RabbitMQ: a message the app keeps failing is retried, then lands
 * in `<destination>.<group>.dlq` after maxAttempts with the SPEC headers.
 */
import { afterAll, expect, it } from 'vitest';
import { inputBinding, outputBinding, rawRabbit, uniqueDestination } from './support.ts';
import { pushTarget, rabbitSidecar, sendJson, type Closable } from './sidecar-support.ts';

const destination = uniqueDestination('http-dlq');
const closing: Closable[] = [];

afterAll(async () => {
  for (const resource of closing.reverse()) await resource.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`, `${destination}.g.dlq`] });
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
