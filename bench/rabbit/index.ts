/**
 * RabbitMQ for the bench: amqplib used the way a careful application would use it directly
 * (persistent messages, publisher confirms awaited per message, prefetch and ack per
 * message), declaring the same topology as the sidecar through the shared pure function.
 */
import amqp, { type Channel, type ConsumeMessage } from 'amqplib';
import { defaultConsumer, defaultProducer } from '../../runtime/src/config/model.ts';
import { redact } from '../../runtime/src/redact.ts';
import { rabbit } from '../../topology/naming.ts';
import { rabbitTopology, type RabbitTopology } from '../../topology/rabbit/desired.ts';
import { rabbitAddress } from '../../test/env/rabbit.ts';
import type { BrokerBench, DirectConsumer, DirectProducer } from '../harness.ts';

/** By default the test environment's RabbitMQ (RABBIT_URL, or this checkout's node on its BINDERY_ENV_PORT_OFFSET port). */
export async function createRabbitBench(url = rabbitAddress().url): Promise<BrokerBench> {
  const connection = await amqp.connect(url).catch((error: unknown) => {
    throw new Error(`RabbitMQ is not reachable at ${redact(url)} (${(error as Error).message}): ` +
      'start it with `npm run env -- up`, or point RABBIT_URL at one');
  });
  const server = connection.connection.serverProperties;
  const admin = await connection.createChannel();

  const declare = async (topology: RabbitTopology): Promise<void> => {
    for (const e of topology.exchanges) await admin.assertExchange(e.name, e.type, { durable: e.durable, autoDelete: e.autoDelete });
    for (const q of topology.queues) {
      await admin.assertQueue(q.name, { durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, arguments: q.arguments });
    }
    for (const b of topology.bindings) await admin.bindQueue(b.queue, b.exchange, b.routingKey);
  };

  return {
    description: `${server.product} ${server.version} at ${redact(url)}`,
    binderConfig: { type: 'rabbit', rabbit: { url } },

    async producer(destination, requiredGroups): Promise<DirectProducer> {
      await declare(rabbitTopology({
        direction: 'output', destination, producer: { ...defaultProducer(), requiredGroups }, consumer: defaultConsumer(),
      }));
      const channel = await connection.createConfirmChannel();
      let sequence = 0;
      const send = (payload: Buffer): Promise<void> => new Promise<void>((resolve, reject) => {
        sequence += 1;
        channel.publish(rabbit.exchange(destination), destination, payload, {
          persistent: true, contentType: 'application/json', messageId: `direct-${sequence}`,
        }, (error: unknown) => (error ? reject(error as Error) : resolve()));
      });
      return {
        send,
        // Publishes the whole batch at once, then waits for its confirms: AMQP has no batch call.
        sendBatch: async (payloads) => {
          await Promise.all(payloads.map(send));
        },
        close: () => channel.close(),
      };
    },

    async consume(destination, group, concurrency, onMessage) {
      const channel = await connection.createChannel();
      await channel.prefetch(concurrency);
      return startable(channel, rabbit.groupQueue(destination, group), (message) => {
        const handled = onMessage();
        if (handled === undefined) channel.ack(message);
        // The bench closes the channel once it counted enough; later answers have nothing to ack.
        else void handled.then(() => channel.ack(message)).catch(() => undefined);
      });
    },

    async consumeBatched(destination, group, batchSize, unacked, onMessages) {
      // The sidecar's prefetch for the same binding; one multiple-ack per batch.
      const channel = await connection.createChannel();
      await channel.prefetch(unacked);
      let taken = 0;
      return startable(channel, rabbit.groupQueue(destination, group), (message) => {
        taken += 1;
        onMessages(1);
        if (taken % batchSize === 0) channel.ack(message, true);
      });
    },

    async cleanup(destinations, groups) {
      for (const destination of destinations) {
        for (const group of groups) {
          const queue = rabbit.groupQueue(destination, group);
          await admin.deleteQueue(queue);
          await admin.deleteQueue(rabbit.dlq(queue));
        }
        await admin.deleteExchange(rabbit.exchange(destination));
      }
    },

    close: () => connection.close(),
  };
}

/** A consumer on `queue` that consumes once started, on a channel opened (and its prefetch set) beforehand. */
function startable(channel: Channel, queue: string, onMessage: (message: ConsumeMessage) => void): DirectConsumer {
  let tag: string | undefined;
  return {
    async start() {
      tag = (await channel.consume(queue, (message) => {
        if (message !== null) onMessage(message);
      })).consumerTag;
    },
    async close() {
      if (tag !== undefined) await channel.cancel(tag);
      await channel.close();
    },
  };
}
