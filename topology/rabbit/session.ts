/**
 * The operator's RabbitMQ session (amqplib). Every operation runs on a channel of its own:
 * RabbitMQ closes a channel on the first failed declare or passive check, and that must not
 * fail the operations of other bindings in flight on the same connection.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import type { DesiredTopology } from '../desired.ts';
import { BrokerCalls, BrokerError, type BrokerSession, type BrokerSettings, type TopologyCheck, type TopologyUsage } from '../session.ts';
import { declareRabbitTopology } from './declare.ts';
import type { RabbitTopology } from './desired.ts';
import { describeConflict, isPreconditionFailed, topologyConflict } from './refusal.ts';

type RabbitSettings = Extract<BrokerSettings, { type: 'rabbit' }>;

const CONNECT_TIMEOUT_MS = 5_000;

export async function connectRabbit(settings: RabbitSettings, calls: BrokerCalls): Promise<BrokerSession> {
  let connection: ChannelModel;
  try {
    // Settings as an object, never as a URL: a URL with the password could reach a log.
    connection = await amqp.connect(
      {
        protocol: settings.tls ? 'amqps' : 'amqp',
        hostname: settings.host,
        port: settings.port,
        vhost: settings.vhost,
        username: settings.username ?? 'guest',
        password: settings.password ?? 'guest',
        heartbeat: 10,
      },
      { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: 'bindery-operator' } },
    );
  } catch (error) {
    throw classify(error, settings);
  }
  return new RabbitSession(connection, calls);
}

function classify(error: unknown, settings: RabbitSettings): BrokerError {
  const message = error instanceof Error ? error.message : String(error);
  const where = `${settings.host}:${settings.port}`;
  if (/ACCESS[-_]REFUSED|403/.test(message)) {
    return new BrokerError('AuthenticationFailed', `RabbitMQ at ${where} refused the credentials`);
  }
  if (/NOT[-_]ALLOWED|530/.test(message)) {
    return new BrokerError('NotAllowed', `RabbitMQ at ${where} does not allow access to vhost ${settings.vhost}`);
  }
  const code = (error as { code?: string }).code;
  return new BrokerError('Unreachable', `RabbitMQ at ${where} is unreachable${code ? ` (${code})` : ''}`);
}

class RabbitSession implements BrokerSession {
  readonly type = 'rabbit';
  readonly version: string;
  closed = false;
  private readonly downListeners: Array<() => void> = [];
  /** Objects seen to exist in the current check round (`exchange x`, `queue y`). */
  private readonly present = new Set<string>();

  constructor(
    private readonly connection: ChannelModel,
    private readonly calls: BrokerCalls,
  ) {
    const server = connection.connection.serverProperties as Record<string, unknown>;
    this.version = `${String(server.product ?? 'RabbitMQ')} ${String(server.version ?? '')}`.trim();
    const down = (): void => {
      if (this.closed) return;
      this.closed = true;
      for (const listener of this.downListeners.splice(0)) listener();
    };
    connection.on('close', down);
    // amqplib emits 'close' after 'error'; without an 'error' listener the process would die.
    connection.on('error', () => {});
  }

  onDown(listener: () => void): void {
    if (this.closed) listener();
    else this.downListeners.push(listener);
  }

  async declare(desired: DesiredTopology): Promise<void> {
    const topology = rabbitOf(desired);
    await this.withChannel('declare', (channel) => declareRabbitTopology(channel, topology, () => this.calls.count('rabbit', 'write')));
    // Declared is seen to exist: a check in the same round reads only what it must (the lag).
    for (const exchange of topology.exchanges) this.present.add(`exchange ${exchange.name}`);
    for (const queue of topology.queues) this.present.add(`queue ${queue.name}`);
  }

  async check(desired: DesiredTopology, options: { lag: boolean }): Promise<TopologyCheck> {
    const topology = rabbitOf(desired);
    const missing: string[] = [];
    const lagged = new Set(options.lag ? topology.consumeQueues : []);
    let ready = 0;
    // AMQP has no way to list a vhost's objects, so each is read passively; those already
    // seen in this round (the exchange of a destination with many groups) are not read again,
    // except a queue whose depth is the lag. checkQueue's message count is RabbitMQ's
    // messages_ready: delivered but unacknowledged ones are with a consumer already.
    const checks = [
      ...topology.exchanges.map((e) => ({ id: `exchange ${e.name}`, depth: false, read: (c: Channel) => c.checkExchange(e.name).then(() => 0) })),
      ...topology.queues.map((q) => ({ id: `queue ${q.name}`, depth: lagged.has(q.name), read: (c: Channel) => c.checkQueue(q.name).then((info) => info.messageCount) })),
    ].filter(({ id, depth }) => depth || !this.present.has(id));
    await this.passiveChecks(checks.map(({ id, depth, read }) => ({
      check: async (channel: Channel) => {
        const messages = await read(channel);
        if (depth) ready += messages;
        this.present.add(id);
      },
      absent: () => missing.push(id),
    })));
    return { missing, ...(lagged.size > 0 && { lag: ready }) };
  }

  newCheckRound(): void {
    this.present.clear();
  }

  async usage(desired: DesiredTopology): Promise<TopologyUsage> {
    const usage: TopologyUsage = { messages: 0, consumers: 0 };
    await this.passiveChecks(
      rabbitOf(desired).queues.map((queue) => ({
        check: async (channel: Channel) => {
          const info = await channel.checkQueue(queue.name);
          usage.messages += info.messageCount;
          usage.consumers += info.consumerCount;
        },
        absent: () => undefined,
      })),
    );
    return usage;
  }

  /**
   * Runs passive checks (reads), calling `absent` for each object that does not exist. A
   * failed passive check closes its channel; one channel per run of successes keeps the common
   * case (everything there) at one channel per binding.
   */
  private async passiveChecks(checks: Array<{ check: (channel: Channel) => Promise<unknown>; absent: () => void }>): Promise<void> {
    let channel: Channel | undefined;
    try {
      for (const { check, absent } of checks) {
        channel ??= await this.openChannel();
        this.calls.count('rabbit', 'read');
        try {
          await check(channel);
        } catch (error) {
          if (!isNotFound(error)) throw this.failure('check', error);
          absent();
          channel = undefined;
        }
      }
    } finally {
      await channel?.close().catch(() => {});
    }
  }

  async delete(desired: DesiredTopology): Promise<void> {
    const topology = rabbitOf(desired);
    await this.withChannel('delete', async (channel) => {
      // Queues first: deleting a queue also removes its bindings. RabbitMQ answers a delete
      // of an absent queue or exchange with success, which is what "idempotent" asks for.
      for (const queue of topology.queues) {
        this.calls.count('rabbit', 'write');
        this.present.delete(`queue ${queue.name}`);
        await channel.deleteQueue(queue.name);
      }
      for (const exchange of topology.exchanges) {
        this.calls.count('rabbit', 'write');
        this.present.delete(`exchange ${exchange.name}`);
        await channel.deleteExchange(exchange.name);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close().catch(() => {});
  }

  private async openChannel(): Promise<Channel> {
    try {
      const channel = await this.connection.createChannel();
      channel.on('error', () => {});
      return channel;
    } catch (error) {
      throw this.failure('open a channel', error);
    }
  }

  private async withChannel(what: string, work: (channel: Channel) => Promise<void>): Promise<void> {
    const channel = await this.openChannel();
    try {
      await work(channel);
    } catch (error) {
      throw this.failure(what, error);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  private failure(what: string, error: unknown): BrokerError {
    if (error instanceof BrokerError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (this.closed) return new BrokerError('Unreachable', `RabbitMQ connection lost during ${what}`);
    if (isPreconditionFailed(message)) {
      const conflict = topologyConflict(message);
      return new BrokerError('IncompatibleTopology', conflict ? describeConflict(conflict) : `RabbitMQ refused to ${what}: ${message}`);
    }
    return new BrokerError('ProvisioningFailed', `RabbitMQ refused to ${what}: ${message}`);
  }
}

function rabbitOf(desired: DesiredTopology): RabbitTopology {
  if (desired.type !== 'rabbit') throw new Error(`a ${desired.type} topology given to the RabbitMQ backend`);
  return desired.rabbit;
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown }).code === 404;
}
