/**
 * The connection as the broker sees it, step by step: a proxy takes RabbitMQ away from one
 * binder (the broker keeps running for everyone else) or speaks for the broker, and the
 * test runs the binder's back-off timers itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BinderUnavailableError, type Binder, type BinderState } from '../../../runtime/src/binders/binder.ts';
import {
  brokerProxy, collector, connectionBlockedFrame, inputBinding, message, outputBinding, rabbitBinder, rawRabbit, uniqueDestination, waitFor,
} from './support.ts';
import { FakeClock } from '../../support/fake-clock.ts';

const destination = uniqueDestination('reconnect');
let proxy: Awaited<ReturnType<typeof brokerProxy>>;
let binder: Binder;

beforeAll(async () => {
  proxy = await brokerProxy();
});

afterAll(async () => {
  await binder?.close();
  await proxy.close();
  const raw = await rawRabbit();
  await raw.deleteAll({ exchanges: [destination], queues: [`${destination}.g`, `${destination}.g.dlq`] });
  await raw.close();
});

it('fails unconfirmed sends, goes down, retries on a capped back-off, then re-declares and resumes group and anonymous consumers', async () => {
  const clock = new FakeClock();
  // The confirm timeout is far off, so moving time through the back-off never fires it.
  binder = rabbitBinder({ clock, confirmTimeout: 99_999, reconnect: { initialMs: 100, multiplier: 2, maxMs: 300 } }, proxy.url);
  const states: BinderState[] = [];
  binder.onStateChange((state) => states.push(state));
  await binder.connect();
  const group = collector();
  const anonymous = collector();
  await binder.createConsumer(inputBinding(destination, 'g'), group.handler);
  await binder.createConsumer(inputBinding(destination, undefined), anonymous.handler);
  const producer = await binder.createProducer(outputBinding(destination));
  await producer.send(message('before'));
  await waitFor('the first message at both consumers', () => group.received.length === 1 && anonymous.received.length === 1);

  // A send whose confirm is held back fails when the connection drops: never a success.
  proxy.hold();
  const unconfirmed = producer.send(message('unconfirmed'));
  proxy.cut();
  await expect(unconfirmed).rejects.toThrow(BinderUnavailableError);
  await waitFor('the binder to notice', () => binder.state === 'down');
  await expect(producer.send(message('while-down'))).rejects.toThrow(BinderUnavailableError);
  const retries: number[] = [];
  for (let i = 0; i < 4; i++) {
    await waitFor('the next reconnect attempt to be scheduled', () => clock.pendingDelays().some((ms) => ms <= 300));
    const delay = clock.pendingDelays().find((ms) => ms <= 300)!;
    retries.push(delay);
    await clock.advance(delay);
  }
  expect(retries).toEqual([100, 200, 300, 300]);
  // The last attempt failed too once the next one is scheduled.
  await waitFor('the next reconnect attempt', () => clock.pendingDelays().includes(300));
  expect(binder.state).toBe('down');

  proxy.restore();
  await clock.advance(300);
  await waitFor('the binder to come back up', () => binder.state === 'up');
  expect(states).toEqual(['up', 'down', 'up']);

  await producer.send(message('after'));
  await waitFor('the second message at both consumers', () => group.ids().includes('after') && anonymous.ids().includes('after'));
  // An ack still on its way when the connection dropped is lost with it: the broker then
  // redelivers (at-least-once), flagged as a further attempt.
  // The unconfirmed message may or may not have reached the broker before the cut.
  expect([...new Set(group.ids())].filter((id) => id !== 'unconfirmed')).toEqual(['before', 'after']);
  expect(group.received.filter((d) => d.id === 'before').slice(1).every((d) => d.attempt === 2)).toBe(true);
  expect(anonymous.ids().filter((id) => id !== 'unconfirmed')).toEqual(['before', 'after']);
});

it('refuses sends at once while RabbitMQ blocks publishers, and takes them again when it unblocks', async () => {
  const blockedDestination = uniqueDestination('blocked');
  const blockable = rabbitBinder({}, proxy.url);
  try {
    await blockable.connect();
    const producer = await blockable.createProducer(outputBinding(blockedDestination));
    await producer.send(message('before'));

    proxy.toClients(connectionBlockedFrame('low on memory'));
    let refusal: unknown;
    await waitFor('a send to be refused', async () => {
      refusal = await producer.send(message('while-blocked')).then(() => undefined, (error: unknown) => error);
      return refusal !== undefined;
    });
    expect(refusal).toBeInstanceOf(BinderUnavailableError);
    expect((refusal as Error).message).toContain('low on memory');
    expect(blockable.state).toBe('up');

    proxy.toClients(connectionBlockedFrame());
    await waitFor('sends to be taken again', async () => producer.send(message('after')).then(() => true, () => false));
  } finally {
    await blockable.close();
    const raw = await rawRabbit();
    await raw.deleteAll({ exchanges: [blockedDestination] });
    await raw.close();
  }
});

it('comes back up for every binding when the broker refuses one output\'s topology on reconnect', async () => {
  const refused = uniqueDestination('refused');
  const fine = uniqueDestination('fine');
  const binderOnProxy = rabbitBinder({}, proxy.url);
  const raw = await rawRabbit();
  try {
    await binderOnProxy.connect();
    await binderOnProxy.createProducer(outputBinding(refused, { requiredGroups: ['g'] }));
    const producer = await binderOnProxy.createProducer(outputBinding(fine));

    proxy.cut();
    await waitFor('the binder to notice', () => binderOnProxy.state === 'down');
    // Meanwhile someone declares the required group's queue with other arguments.
    await raw.channel.deleteQueue(`${refused}.g`);
    await raw.channel.assertQueue(`${refused}.g`, { durable: true, arguments: { 'x-max-length': 5 } });
    proxy.restore();

    await waitFor('the binder to come back up', () => binderOnProxy.state === 'up');
    await expect(producer.send(message('fine'))).resolves.toEqual({});
  } finally {
    await binderOnProxy.close();
    await raw.deleteAll({ exchanges: [refused, fine], queues: [`${refused}.g`, `${refused}.g.dlq`] });
    await raw.close();
  }
});
