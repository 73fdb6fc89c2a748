/**
 * The operator's existence checks on the real RabbitMQ: within one check round an object that
 * several bindings share is read once, and a new round (each resync) reads everything again, so
 * an object deleted by hand is still found missing at the next resync. A group's queue is read
 * once for both its existence and the consumer lag.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, expect, it } from 'vitest';
import { bindingTopology } from '../../../operator/src/controller/topology.ts';
import { connectRabbit } from '../../../topology/rabbit/session.ts';
import type { DesiredTopology } from '../../../topology/desired.ts';
import { BrokerCalls, type BrokerSession } from '../../../topology/session.ts';
import { testEnv } from '../../support/env.ts';
import { waitFor } from '../../support/wait.ts';

const destination = `checks-${randomBytes(4).toString('hex')}`;
let session: BrokerSession | undefined;
const calls = new BrokerCalls();

afterAll(async () => {
  if (session) {
    await session.delete(bindingTopology({ direction: 'input', destination, group: 'a' }, 'rabbit'));
    await session.delete(bindingTopology({ direction: 'input', destination, group: 'b' }, 'rabbit'));
    await session.close();
  }
});

async function missing(desired: DesiredTopology): Promise<string[]> {
  return (await session!.check(desired, { lag: false })).missing;
}

it('reads a shared exchange once per round, and everything again in the next round', async () => {
  const url = new URL(testEnv().rabbitUrl);
  session = await connectRabbit({
    type: 'rabbit', host: url.hostname, port: Number(url.port), vhost: '/', tls: false,
    username: decodeURIComponent(url.username), password: decodeURIComponent(url.password),
  }, calls);
  const a = bindingTopology({ direction: 'input', destination, group: 'a' }, 'rabbit');
  const b = bindingTopology({ direction: 'input', destination, group: 'b' }, 'rabbit');
  await session.declare(a);
  await session.declare(b);

  session.newCheckRound?.();
  const before = calls.reads;
  expect(await missing(a)).toEqual([]);
  expect(calls.reads - before).toBe(2);
  expect(await missing(b)).toEqual([]);
  // The exchange was seen in this round: only b's queue is read.
  expect(calls.reads - before).toBe(3);

  const connection = await amqp.connect(testEnv().rabbitUrl);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(`${destination}.b`);
  } finally {
    await connection.close();
  }
  session.newCheckRound?.();
  expect(await missing(b)).toEqual([`queue ${destination}.b`]);
  expect(await missing(a)).toEqual([]);
  expect(calls.reads - before).toBe(3 + 2 + 1);
});

it('reads a group queue once for both its existence and the lag, and only for the lag once declared', async () => {
  const group = bindingTopology({ direction: 'input', destination, group: 'lagged' }, 'rabbit');
  await session!.declare(group);
  const connection = await amqp.connect(testEnv().rabbitUrl);
  try {
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < 3; i++) channel.publish(destination, 'any', Buffer.from(`m${i}`));
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
  // Declared in this round: the exchange and the queue are known to exist; the queue is read for its depth.
  let before = calls.reads;
  await waitFor('the messages in the queue', async () => (await session!.check(group, { lag: true })).lag === 3);
  expect(calls.reads - before).toBe(1);

  session!.newCheckRound?.();
  before = calls.reads;
  expect(await session!.check(group, { lag: true })).toEqual({ missing: [], lag: 3 });
  expect(calls.reads - before).toBe(2);
  await session!.delete(group);
});
