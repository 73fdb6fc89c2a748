/**
 * The operator's existence checks on the real RabbitMQ: within one check round an object that
 * several bindings share is read once, and a new round (each resync) reads everything again, so
 * an object deleted by hand is still found missing at the next resync.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, expect, it } from 'vitest';
import { bindingTopology } from '../../../operator/src/controller/topology.ts';
import { connectRabbit } from '../../../topology/rabbit/session.ts';
import { BrokerCalls, type BrokerSession } from '../../../topology/session.ts';
import { testEnv } from '../../support/env.ts';

const destination = `checks-${randomBytes(4).toString('hex')}`;
let session: BrokerSession | undefined;

afterAll(async () => {
  if (session) {
    await session.delete(bindingTopology({ direction: 'input', destination, group: 'a' }, 'rabbit'));
    await session.delete(bindingTopology({ direction: 'input', destination, group: 'b' }, 'rabbit'));
    await session.close();
  }
});

it('reads a shared exchange once per round, and everything again in the next round', async () => {
  const url = new URL(testEnv().rabbitUrl);
  const calls = new BrokerCalls();
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
  expect(await session.missing(a)).toEqual([]);
  expect(calls.reads - before).toBe(2);
  expect(await session.missing(b)).toEqual([]);
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
  expect(await session.missing(b)).toEqual([`queue ${destination}.b`]);
  expect(await session.missing(a)).toEqual([]);
  expect(calls.reads - before).toBe(3 + 2 + 1);
});
