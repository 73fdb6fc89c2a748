/**
 * The operator's RabbitMQ session (amqplib). Every operation runs on a channel of its own:
 * RabbitMQ closes a channel on the first failed declare or passive check, and that must not
 * fail the operations of other bindings in flight on the same connection. Checks read the
 * vhost in bulk over the management API when it answers (snapshot.ts, management.ts), and
 * fall back to a passive declare per object when it does not.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import type { DesiredTopology } from '../desired.ts';
import { BrokerCalls, BrokerError, type BrokerSession, type BrokerSettings, type SessionLogger, type TopologyCheck, type TopologyUsage } from '../session.ts';
import { declareRabbitTopology } from './declare.ts';
import type { RabbitTopology } from './desired.ts';
import { managementUrl, readSnapshot, type ManagementEndpoint } from './management.ts';
import { describeConflict, isPreconditionFailed, topologyConflict } from './refusal.ts';
import { bindingId, objectId, rabbitDrift, type RabbitSnapshot } from './snapshot.ts';

type RabbitSettings = Extract<BrokerSettings, { type: 'rabbit' }>;

const CONNECT_TIMEOUT_MS = 5_000;
/** A bulk snapshot serves the checks of a round for this long; a resync of a thousand bindings takes less. */
const SNAPSHOT_MAX_AGE_MS = 5_000;
/** After the management API failed, checks read passively for this long before it is tried again. */
const BULK_RETRY_MS = 60_000;

export async function connectRabbit(settings: RabbitSettings, calls: BrokerCalls, logger?: SessionLogger): Promise<BrokerSession> {
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
  const management = settings.managementPort === undefined ? undefined : {
    url: managementUrl(settings.host, settings.managementPort, settings.tls),
    vhost: settings.vhost,
    username: settings.username ?? 'guest',
    password: settings.password ?? 'guest',
  };
  return new RabbitSession(connection, calls, management, logger);
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
  /** Objects seen to exist in the current check round (objectId, bindingId). */
  private readonly present = new Set<string>();
  /**
   * Depths RabbitMQ answered a declaration with, each for the one check that follows it (the
   * lag a new binding shows), so that check reads nothing more.
   */
  private readonly declaredDepths = new Map<string, number>();
  /** The bulk read of the vhost that serves this round's checks; undefined when not read yet. */
  private snapshot: { at: number; read: Promise<RabbitSnapshot | undefined> } | undefined;
  private bulkRetryAt = 0;
  private bulkFailed = false;

  constructor(
    private readonly connection: ChannelModel,
    private readonly calls: BrokerCalls,
    private readonly management?: ManagementEndpoint,
    private readonly logger?: SessionLogger,
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
    await this.withChannel('declare', (channel) => declareRabbitTopology(
      channel, topology, () => this.calls.count('rabbit', 'write'), (queue, ready) => this.declaredDepths.set(queue, ready)));
    // Declared is seen to exist: a check in the same round reads only what it must (the lag).
    for (const exchange of topology.exchanges) this.present.add(objectId('exchange', exchange.name));
    for (const queue of topology.queues) this.present.add(objectId('queue', queue.name));
    for (const binding of topology.bindings) this.present.add(bindingId(binding.exchange, binding.queue, binding.routingKey));
  }

  async check(desired: DesiredTopology, options: { lag: boolean }): Promise<TopologyCheck> {
    const topology = rabbitOf(desired);
    const lagged = new Set(options.lag ? topology.consumeQueues : []);
    const snapshot = await this.currentSnapshot();
    const drift = snapshot && rabbitDrift(topology, snapshot, options);
    const held = (id: string): boolean => drift !== undefined && !drift.absent.includes(id);
    // AMQP cannot read a binding; one the snapshot lacks (and this round did not declare) is missing.
    const missing = (drift?.absent ?? []).filter((id) => id.startsWith('binding ') && !this.present.has(id));
    let ready = drift?.ready ?? 0;
    // A queue declared just now: its depth came with the declaration.
    const declaredDepth = new Set<string>();
    for (const queue of lagged) {
      const depth = this.declaredDepths.get(queue);
      if (depth === undefined || held(objectId('queue', queue))) continue;
      this.declaredDepths.delete(queue);
      declaredDepth.add(queue);
      ready += depth;
    }
    // What the snapshot lacks may have been declared since it was read (or there is no
    // snapshot): such objects are read passively, and those already seen in this round (the
    // exchange of a destination with many groups) are not read again, except a queue whose
    // depth is the lag. checkQueue's message count is RabbitMQ's messages_ready: delivered but
    // unacknowledged ones are with a consumer already.
    const checks = [
      ...topology.exchanges.map((e) => ({ id: objectId('exchange', e.name), depth: false, read: (c: Channel) => c.checkExchange(e.name).then(() => 0) })),
      ...topology.queues.map((q) => ({
        id: objectId('queue', q.name),
        depth: lagged.has(q.name) && !declaredDepth.has(q.name) && !(held(objectId('queue', q.name)) && !drift!.depthUnknown.includes(q.name)),
        read: (c: Channel) => c.checkQueue(q.name).then((info) => info.messageCount),
      })),
    ].filter(({ id, depth }) => depth || (!this.present.has(id) && !held(id)));
    await this.passiveChecks(checks.map(({ id, depth, read }) => ({
      check: async (channel: Channel) => {
        const messages = await read(channel);
        if (depth) ready += messages;
        this.present.add(id);
      },
      absent: () => missing.push(id),
    })));
    return { missing, ...(drift && drift.differs.length > 0 && { differs: drift.differs }), ...(lagged.size > 0 && { lag: ready }) };
  }

  newCheckRound(): void {
    this.present.clear();
    this.declaredDepths.clear();
    this.snapshot = undefined;
  }

  /**
   * The round's bulk read of the vhost, shared by the checks in flight; undefined without a
   * management endpoint, or while it is failing (said once in the log, and once when it answers again).
   */
  private currentSnapshot(): Promise<RabbitSnapshot | undefined> {
    const management = this.management;
    if (!management) return Promise.resolve(undefined);
    const now = Date.now();
    if (this.snapshot && now - this.snapshot.at < SNAPSHOT_MAX_AGE_MS) return this.snapshot.read;
    if (now < this.bulkRetryAt) return Promise.resolve(undefined);
    // Three lists: exchanges, queues, bindings.
    this.calls.count('rabbit', 'read', 3);
    const read = readSnapshot(management).then(
      (snapshot) => {
        if (this.bulkFailed) this.logger?.info({ management: management.url }, 'RabbitMQ management API answers again: resync reads in bulk');
        this.bulkFailed = false;
        return snapshot;
      },
      (error: unknown) => {
        this.bulkRetryAt = Date.now() + BULK_RETRY_MS;
        if (this.snapshot?.read === read) this.snapshot = undefined;
        if (!this.bulkFailed) {
          this.logger?.warn({ management: management.url, err: error instanceof Error ? error.message : String(error) },
            'RabbitMQ management API not readable: resync falls back to a passive declare per object');
        }
        this.bulkFailed = true;
        return undefined;
      },
    );
    this.snapshot = { at: now, read };
    return read;
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
    // The snapshot would still show what is deleted here.
    this.snapshot = undefined;
    await this.withChannel('delete', async (channel) => {
      // Queues first: deleting a queue also removes its bindings. RabbitMQ answers a delete
      // of an absent queue or exchange with success, which is what "idempotent" asks for.
      for (const queue of topology.queues) {
        this.calls.count('rabbit', 'write');
        this.present.delete(objectId('queue', queue.name));
        await channel.deleteQueue(queue.name);
      }
      for (const exchange of topology.exchanges) {
        this.calls.count('rabbit', 'write');
        this.present.delete(objectId('exchange', exchange.name));
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
