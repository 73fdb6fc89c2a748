/**
 * Confirm timeouts on the real RabbitMQ, with its confirms held back by a proxy and time moved
 * by the test: each send fails at its own deadline, though one timer serves them all (ADR 0049).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfirmTimeoutError, type Binder } from '../../../runtime/src/binders/binder.ts';
import { FakeClock } from '../../support/fake-clock.ts';
import { brokerProxy, message, outputBinding, rabbitBinder, rawRabbit, uniqueDestination, waitFor } from './support.ts';

const destination = uniqueDestination('confirm-timeout');
let proxy: Awaited<ReturnType<typeof brokerProxy>>;
let binder: Binder | undefined;

beforeAll(async () => {
  proxy = await brokerProxy();
});

afterAll(async () => {
  // The proxy still holds the broker's answers (closing would wait for them): the connections
  // are cut, and the binder closes once it saw them go.
  proxy.cut();
  await waitFor('the binder to see its connections go', () => binder?.state !== 'up');
  await binder?.close();
  await proxy.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [] });
  await raw.close();
});

it('fails each unconfirmed send at its own deadline, with one timer waiting for all of them', async () => {
  const clock = new FakeClock(1_000_000);
  binder = rabbitBinder({ clock, confirmTimeout: 1_000 }, proxy.url);
  await binder.connect();
  const producer = await binder.createProducer(outputBinding(destination));
  await producer.send(message('confirmed'));
  const timersBefore = clock.pendingTimers;

  proxy.hold();
  const outcomes: string[] = [];
  const track = (id: string): Promise<void> => producer.send(message(id)).then(
    () => void outcomes.push(`${id} confirmed`),
    (error: unknown) => void outcomes.push(`${id} ${error instanceof ConfirmTimeoutError ? 'timed out' : String(error)}`),
  );
  const sends = [track('a'), track('b')];
  await clock.advance(400);
  sends.push(track('c'));
  await clock.advance(0);
  // The timer left from the confirmed send, or one for "a": never one per message.
  expect(clock.pendingTimers).toBeLessThanOrEqual(Math.max(timersBefore, 1));

  await clock.advance(599);
  expect(outcomes).toEqual([]);
  await clock.advance(1);
  expect(outcomes).toEqual(['a timed out', 'b timed out']);
  await clock.advance(399);
  expect(outcomes).toEqual(['a timed out', 'b timed out']);
  await clock.advance(1);
  expect(outcomes).toEqual(['a timed out', 'b timed out', 'c timed out']);
  await Promise.all(sends);
});
