import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { managementApi, startRabbit, stopRabbit, testEnv } from '../../support/env.ts';

interface QueueInfo {
  name: string;
  durable: boolean;
  messages?: number;
}

describe('RabbitMQ of the test environment', () => {
  it('declares a durable queue over AMQP that the management API shows as durable', async () => {
    const queue = `smoke.durable.${randomUUID()}`;
    const connection = await amqp.connect(testEnv().rabbitUrl);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true });
      const seen = await managementApi<QueueInfo>(`/queues/%2F/${encodeURIComponent(queue)}`);
      expect(seen).toMatchObject({ name: queue, durable: true });
      await channel.deleteQueue(queue);
      expect(await managementApi(`/queues/%2F/${encodeURIComponent(queue)}`)).toBeUndefined();
    } finally {
      await connection.close();
    }
  });

  it('keeps durable queues and persistent messages across stopRabbit/startRabbit, dropping connections', async () => {
    const queue = `smoke.restart.${randomUUID()}`;
    const connection = await amqp.connect(testEnv().rabbitUrl);
    const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
    connection.on('error', () => {}); // the drop is what this test expects
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(queue, { durable: true });
    channel.sendToQueue(queue, Buffer.from('survives'), { persistent: true });
    await channel.waitForConfirms();

    await stopRabbit();
    await closed;
    await startRabbit();

    const again = await amqp.connect(testEnv().rabbitUrl);
    try {
      const ch = await again.createChannel();
      const message = await ch.get(queue, { noAck: true });
      expect(message && message.content.toString()).toBe('survives');
      await ch.deleteQueue(queue);
    } finally {
      await again.close();
    }
  }, 180_000);
});
