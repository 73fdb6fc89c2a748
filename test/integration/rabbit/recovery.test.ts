/**
 * RabbitMQ stopped and started again under a stream of sends, at the adapter level: the
 * binder goes down and up by itself, no confirmed message is lost, and its consumer resumes.
 */
import { afterAll, expect, it } from 'vitest';
import { BinderUnavailableError, ConfirmTimeoutError, type Binder, type BinderState } from '../../../runtime/src/binders/binder.ts';
import { startRabbit, stopRabbit } from '../../support/env.ts';
import { collector, inputBinding, message, outputBinding, rabbitBinder, rawRabbit, uniqueDestination, waitFor } from './support.ts';

const binders: Binder[] = [];
const destination = uniqueDestination('recovery');

afterAll(async () => {
  await startRabbit();
  await Promise.all(binders.map((b) => b.close()));
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`, `${destination}.g.dlq`] });
  await raw.close();
});

it('survives a RabbitMQ restart during a stream of sends: every confirmed message is received', async () => {
  const binder = rabbitBinder();
  binders.push(binder);
  const states: BinderState[] = [];
  binder.onStateChange((state) => states.push(state));
  await binder.connect();
  const received = collector();
  await binder.createConsumer(inputBinding(destination, 'g', { concurrency: 16 }), received.handler);
  const producer = await binder.createProducer(outputBinding(destination));

  const confirmed = new Set<string>();
  const refusals: unknown[] = [];
  let sending = true;
  const stream = (async () => {
    for (let i = 0; sending; i++) {
      try {
        await producer.send(message(`m-${i}`));
        confirmed.add(`m-${i}`);
      } catch (error) {
        refusals.push(error);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  })();

  await waitFor(() => confirmed.size >= 50, '50 confirmed sends before the outage');
  await stopRabbit();
  await waitFor(() => binder.state === 'down', 'the binder to go down');
  const confirmedBeforeRestart = confirmed.size;
  await startRabbit();
  await waitFor(() => binder.state === 'up', 'the binder to come back up', 45_000);
  await waitFor(() => confirmed.size >= confirmedBeforeRestart + 50, '50 confirmed sends after the restart');
  sending = false;
  await stream;

  const missing = (): string[] => {
    const receivedIds = new Set(received.ids());
    return [...confirmed].filter((id) => !receivedIds.has(id));
  };
  await waitFor(() => missing().length === 0, 'every confirmed message to be received', 30_000).catch(() => undefined);
  expect(missing()).toEqual([]);
  expect(states).toEqual(['up', 'down', 'up']);
  expect(refusals.length).toBeGreaterThan(0);
  for (const refusal of refusals) {
    expect(refusal instanceof BinderUnavailableError || refusal instanceof ConfirmTimeoutError).toBe(true);
  }
}, 150_000);
