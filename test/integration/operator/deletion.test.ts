/**
 * What stays on the broker when a StreamBinding goes or moves: deletionPolicy Retain, Delete
 * (only once empty) and ForceDelete; shared exchanges survive while another binding uses
 * them; a binding moved to another Binder releases its old queue once no consumer reads it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamBinding } from '../../../operator/src/api/types.ts';
import type { Operator } from '../../../operator/src/operator.ts';
import {
  applyCrds, cleanupRabbit, condition, createBinding, createKafkaBinder, createNamespace, createRabbitBinder, deleteObject,
  getObject, kafkaAdmin, patchSpec, rabbitExchange, rabbitQueue, startOperator, suffix, teardown, topicPartitions, waitFor,
  waitForCondition, withRabbitChannel,
} from './support.ts';
import { testEnv } from '../../support/env.ts';
import amqp from 'amqplib';

const marker = `del${suffix()}`;
let namespace: string;
let operator: Operator;

beforeAll(() => applyCrds());

afterEach(async () => {
  await teardown(namespace, operator);
});

afterAll(async () => {
  await cleanupRabbit(marker);
});

async function setUp(): Promise<void> {
  namespace = await createNamespace('deletion');
  operator = await startOperator(namespace);
  await createRabbitBinder(namespace, 'rabbit', { default: true });
}

const gone = (name: string) => waitFor(`StreamBinding ${name} to go`, async () => (await getObject(namespace, 'streambindings', name)) === undefined);

const messages = (queue: string) => withRabbitChannel(async (channel) => (await channel.checkQueue(queue)).messageCount);

async function publish(destination: string, count: number): Promise<void> {
  await withRabbitChannel(async (channel) => {
    for (let i = 0; i < count; i += 1) channel.publish(destination, 'k', Buffer.from(`m${i}`));
    await channel.checkExchange(destination);
  });
}

describe('deletionPolicy', () => {
  it('Retain keeps the queue', async () => {
    await setUp();
    const destination = `retain-${marker}`;
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g' });
    await waitForCondition(namespace, 'streambindings', 'in', 'True');
    await deleteObject(namespace, 'streambindings', 'in');
    await gone('in');
    expect(await rabbitQueue(`${destination}.g`)).toBeDefined();
    expect(await rabbitExchange(destination)).toBeDefined();
  });

  it('Delete waits while the queue holds messages, with a condition saying so, then deletes it', async () => {
    await setUp();
    const destination = `delete-${marker}`;
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g', deletionPolicy: 'Delete', consumer: { deadLetter: true } });
    await waitForCondition(namespace, 'streambindings', 'in', 'True');
    expect(await rabbitQueue(`${destination}.g.dlq`)).toBeDefined();
    await publish(destination, 2);
    await waitFor('2 messages in the queue', () => messages(`${destination}.g`).then((n) => n === 2));

    await deleteObject(namespace, 'streambindings', 'in');
    const waiting = await waitForCondition(namespace, 'streambindings', 'in', 'False', 'QueueNotEmpty');
    expect(waiting.message).toContain(`${destination}.g`);
    expect(waiting.message).toContain('2 message');
    expect(await rabbitQueue(`${destination}.g`)).toBeDefined();

    await withRabbitChannel((channel) => channel.purgeQueue(`${destination}.g`));
    await gone('in');
    expect(await rabbitQueue(`${destination}.g`)).toBeUndefined();
    expect(await rabbitQueue(`${destination}.g.dlq`)).toBeUndefined();
    // Nobody else uses the destination: its exchange goes too.
    expect(await rabbitExchange(destination)).toBeUndefined();
  });

  it('ForceDelete deletes a queue that still holds messages', async () => {
    await setUp();
    const destination = `force-${marker}`;
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g', deletionPolicy: 'ForceDelete' });
    await waitForCondition(namespace, 'streambindings', 'in', 'True');
    await publish(destination, 3);
    await waitFor('3 messages in the queue', () => messages(`${destination}.g`).then((n) => n === 3));
    await deleteObject(namespace, 'streambindings', 'in');
    await gone('in');
    expect(await rabbitQueue(`${destination}.g`)).toBeUndefined();
  });

  it('an exchange another StreamBinding uses is never deleted', async () => {
    await setUp();
    const destination = `shared-${marker}`;
    await createBinding(namespace, 'out', { direction: 'output', destination, deletionPolicy: 'ForceDelete' });
    await createBinding(namespace, 'in-a', { direction: 'input', destination, group: 'a', deletionPolicy: 'ForceDelete' });
    await createBinding(namespace, 'in-b', { direction: 'input', destination, group: 'b', deletionPolicy: 'ForceDelete' });
    for (const name of ['out', 'in-a', 'in-b']) await waitForCondition(namespace, 'streambindings', name, 'True');

    await deleteObject(namespace, 'streambindings', 'in-a');
    await gone('in-a');
    expect(await rabbitQueue(`${destination}.a`)).toBeUndefined();
    expect(await rabbitQueue(`${destination}.b`)).toBeDefined();
    expect(await rabbitExchange(destination)).toBeDefined();

    await deleteObject(namespace, 'streambindings', 'out');
    await gone('out');
    expect(await rabbitExchange(destination)).toBeDefined();

    await deleteObject(namespace, 'streambindings', 'in-b');
    await gone('in-b');
    expect(await rabbitQueue(`${destination}.b`)).toBeUndefined();
    expect(await rabbitExchange(destination)).toBeUndefined();
  });
});

describe('binder switch', () => {
  it('provisions on the new broker and releases the old queue once no consumer reads it', async () => {
    await setUp();
    await createKafkaBinder(namespace, 'kafka');
    const destination = `switch-${marker}`;
    await createBinding(namespace, 'in', { direction: 'input', destination, group: 'g', binder: 'rabbit', deletionPolicy: 'Delete' });
    await waitForCondition(namespace, 'streambindings', 'in', 'True');

    // A sidecar still consuming from the old queue.
    const connection = await amqp.connect(testEnv().rabbitUrl);
    try {
      const channel = await connection.createChannel();
      await channel.consume(`${destination}.g`, () => {});

      await patchSpec(namespace, 'streambindings', 'in', { binder: 'kafka' });
      const waiting = await waitFor('the binding to wait for the old consumer', async () => {
        const binding = await getObject<StreamBinding>(namespace, 'streambindings', 'in');
        const released = condition(binding, 'TopologyReleased');
        return binding?.status?.binder === 'kafka' && released?.reason === 'WaitingForConsumers' ? binding : undefined;
      });
      expect(condition(waiting)?.status).toBe('True');
      expect(waiting.status?.previousBinders).toEqual([expect.objectContaining({ binder: 'rabbit' })]);
      expect(await topicPartitions(destination)).toBe(1);
      expect(await rabbitQueue(`${destination}.g`)).toBeDefined();
    } finally {
      await connection.close();
    }

    await waitFor('the old queue to be deleted', async () => (await rabbitQueue(`${destination}.g`)) === undefined);
    await waitFor('the release to be recorded', async () => {
      const binding = await getObject<StreamBinding>(namespace, 'streambindings', 'in');
      return binding?.status?.previousBinders === undefined && condition(binding, 'TopologyReleased') === undefined;
    });
    const admin = kafkaAdmin();
    await admin.connect();
    await admin.deleteTopics({ topics: [destination, `error.${destination}.g`] }).catch(() => {});
    await admin.disconnect();
  });
});
