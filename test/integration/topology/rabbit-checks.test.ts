/**
 * The operator's existence checks on the real RabbitMQ: within one check round an object that
 * several bindings share is read once, and a new round (each resync) reads everything again, so
 * an object deleted by hand is still found missing at the next resync. A group's queue is read
 * once for both its existence and the consumer lag. With the management API, a round reads the
 * vhost in three lists and only what they lack passively; without it, each object passively.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
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

it('reads a group queue once for both its existence and the lag, not at all right after its declaration, and only for the lag after that', async () => {
  const group = bindingTopology({ direction: 'input', destination, group: 'lagged' }, 'rabbit');
  await session!.declare(group);
  // The declaration answered with the queue's depth: the check that follows reads nothing.
  const afterDeclare = calls.reads;
  expect(await session!.check(group, { lag: true })).toEqual({ missing: [], lag: 0 });
  expect(calls.reads).toBe(afterDeclare);
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

describe('bulk reads over the management API', () => {
  const bulkDestination = `bulk-${randomBytes(4).toString('hex')}`;
  const bulkCalls = new BrokerCalls();
  let bulk: BrokerSession | undefined;
  const a = bindingTopology({ direction: 'input', destination: bulkDestination, group: 'a' }, 'rabbit');
  const b = bindingTopology({ direction: 'input', destination: bulkDestination, group: 'b', consumer: { deadLetter: true } }, 'rabbit');

  afterAll(async () => {
    await bulk?.delete(a);
    await bulk?.delete(b);
    await bulk?.close();
  });

  it('reads the vhost in three lists per round, whatever the number of bindings, and finds a deleted queue and a changed argument', async () => {
    bulk = await connectRabbit({ ...settings(), managementPort: Number(new URL(testEnv().rabbitManagementUrl).port) }, bulkCalls);
    await bulk.declare(a);
    await bulk.declare(b);

    bulk.newCheckRound?.();
    let before = bulkCalls.reads;
    expect(await bulk.check(a, { lag: true })).toEqual({ missing: [], lag: 0 });
    expect(await bulk.check(b, { lag: false })).toEqual({ missing: [] });
    expect(bulkCalls.reads - before).toBe(3);

    // A queue deleted by hand, and b's queue re-created without the dead-letter arguments it declares.
    await withChannel(async (channel) => {
      await channel.deleteQueue(`${bulkDestination}.a`);
      await channel.deleteQueue(`${bulkDestination}.b`);
      await channel.assertQueue(`${bulkDestination}.b`, { durable: true });
    });
    bulk.newCheckRound?.();
    before = bulkCalls.reads;
    // The snapshot lacks a's queue; a passive read confirms it is gone. Its binding went with it.
    expect(await bulk.check(a, { lag: false })).toEqual({
      missing: [`binding ${bulkDestination} -> ${bulkDestination}.a (#)`, `queue ${bulkDestination}.a`],
    });
    const drifted = await bulk.check(b, { lag: false });
    expect(drifted.differs).toContain(`queue '${bulkDestination}.b' exists with x-dead-letter-exchange = none, this binding declares x-dead-letter-exchange = DLX`);
    expect(drifted.missing).toEqual([`binding ${bulkDestination} -> ${bulkDestination}.b (#)`]);
    expect(bulkCalls.reads - before).toBe(3 + 1);
  });

  it('reads the lag from the queue totals, and that of a queue declared since the snapshot passively', async () => {
    await withChannel(async (channel) => {
      await channel.deleteQueue(`${bulkDestination}.b`);
    });
    await bulk!.declare(a);
    await bulk!.declare(b);
    // Right after the declaration, its answer is the depth.
    expect(await bulk!.check(a, { lag: true })).toEqual({ missing: [], lag: 0 });
    await withChannel(async (channel) => {
      const confirms = channel as amqp.ConfirmChannel;
      for (let i = 0; i < 4; i++) confirms.publish(bulkDestination, 'any', Buffer.from(`m${i}`));
      await confirms.waitForConfirms();
    }, { confirm: true });
    // Declared in this round after its snapshot: not reported missing, its depth read passively.
    expect(await bulk!.check(a, { lag: true })).toEqual({ missing: [], lag: 4 });
    // RabbitMQ collects queue totals every few seconds: a new round's snapshot shows them soon.
    await waitFor('the lag in the snapshot', async () => {
      bulk!.newCheckRound?.();
      const before = bulkCalls.reads;
      const check = await bulk!.check(a, { lag: true });
      return check.lag === 4 && bulkCalls.reads - before === 3 ? check : undefined;
    }, 20_000);
  });

  it('falls back to passive reads when the management API does not answer, and says so once', async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (_fields: object, message: string) => warnings.push(message) };
    const fallback = await connectRabbit({ ...settings(), managementPort: 1 }, new BrokerCalls(), logger);
    try {
      expect(await fallback.check(a, { lag: true })).toEqual({ missing: [], lag: 4 });
      fallback.newCheckRound?.();
      expect(await fallback.check(b, { lag: false })).toEqual({ missing: [] });
      expect(warnings).toEqual(['RabbitMQ management API not readable: resync falls back to a passive declare per object']);
    } finally {
      await fallback.close();
    }
  });
});

function settings() {
  const url = new URL(testEnv().rabbitUrl);
  return {
    type: 'rabbit' as const, host: url.hostname, port: Number(url.port), vhost: '/', tls: false,
    username: decodeURIComponent(url.username), password: decodeURIComponent(url.password),
  };
}

async function withChannel(work: (channel: amqp.Channel) => Promise<void>, options: { confirm?: boolean } = {}): Promise<void> {
  const connection = await amqp.connect(testEnv().rabbitUrl);
  try {
    await work(options.confirm ? await connection.createConfirmChannel() : await connection.createChannel());
  } finally {
    await connection.close();
  }
}
