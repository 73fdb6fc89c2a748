/**
 * Declares a RabbitMQ topology on a channel, for the sidecar's rabbit binder and the
 * operator's RabbitMQ session alike. Exchanges and queues come before bindings, which need
 * both ends; every declaration is idempotent on the broker, so re-declaring after a reconnect
 * or a resync is safe.
 */
import type { Channel } from 'amqplib';
import type { RabbitTopology } from './desired.ts';

/**
 * `onWrite` is called before each broker call (the operator counts them); `onQueue` with each
 * queue's messages ready, which RabbitMQ answers every queue declaration with.
 */
export async function declareRabbitTopology(
  channel: Channel,
  topology: RabbitTopology,
  onWrite: () => void = () => undefined,
  onQueue: (name: string, messagesReady: number) => void = () => undefined,
): Promise<void> {
  for (const exchange of topology.exchanges) {
    onWrite();
    await channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable, autoDelete: exchange.autoDelete });
  }
  for (const queue of topology.queues) {
    onWrite();
    const declared = await channel.assertQueue(queue.name, {
      durable: queue.durable,
      exclusive: queue.exclusive,
      autoDelete: queue.autoDelete,
      arguments: queue.arguments,
    });
    onQueue(queue.name, declared.messageCount);
  }
  for (const binding of topology.bindings) {
    onWrite();
    await channel.bindQueue(binding.queue, binding.exchange, binding.routingKey);
  }
}
