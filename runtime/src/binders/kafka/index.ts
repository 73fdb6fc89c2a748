/**
 * The Kafka binder (kafkajs), with Spring Cloud Stream's topology (SPEC section 2): a topic
 * per destination, created with the binding's partitions when missing and only ever grown;
 * a consumer group per group, `anonymous.<uuid>` for anonymous inputs; dead letters in
 * `error.<destination>.<group>`.
 *
 * Sends wait for acks=all from an idempotent producer (producer.ts, which batches them and
 * names each record's partition in its receipt); each input consumes in its own group member
 * (consumer.ts).
 *
 * Recovery is kafkajs': consumers rejoin their group; a producer whose send failed or timed out
 * is replaced by a new one (producer-slot.ts, docs/adr/0044-a-new-kafka-producer-after-an-unknown-outcome.md).
 * The binder watches the cluster with a cheap probe to report `down` and `up`; while down,
 * sends fail at once with BinderUnavailableError (the runtime answers 503).
 */
// kafkajs is CommonJS: Node's ESM loader sees only some of its named exports (not
// ConfigResourceTypes), so that one is read from the default export.
import kafkajs, {
  Kafka,
  logLevel,
  type Admin,
  type KafkaConfig,
  type LogEntry,
  type Producer as KafkaJsProducer,
} from 'kafkajs';
import type { BaseLogger } from 'pino';
import type { BinderConfig, BindingConfig, KafkaBinderConfig } from '../../config/model.ts';
import { systemClock, type Clock } from '../../../../time/clock.ts';
import { retry, type RetryPolicy } from '../../../../time/retry.ts';
import { kafkaTopology, type KafkaTopic } from '../../../../topology/kafka/desired.ts';
import { ensureTopics } from '../../../../topology/kafka/topics.ts';
import { kafka as naming } from '../../../../topology/naming.ts';
import {
  BinderUnavailableError,
  type Binder,
  type BinderDeps,
  type BinderState,
  type Consumer,
  type DeliveryHandler,
  type Producer,
} from '../binder.ts';
import { KafkaInput, type ConsumerContext, type KafkaConsumerTuning } from './consumer.ts';
import type { OutboundRecord } from './messages.ts';
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES, KafkaOutput, recordPartitioner, type ProducerHost } from './producer.ts';
import { ProducerSlot } from './producer-slot.ts';

export interface KafkaBinderOptions {
  /** Consumer group timing; tests shorten it so that group changes take little time. */
  consumer?: Partial<KafkaConsumerTuning>;
  /** How long a send waits for acks=all before ConfirmTimeoutError (ms). */
  sendTimeout?: number;
  /** kafkajs retries of a send before it fails with BinderUnavailableError. */
  sendRetries?: number;
  /** Interval of the cluster probe while up and while down (ms). */
  probeInterval?: { up: number; down: number };
  /** Records in one produce request at most. */
  maxBatch?: number;
  /** How long the client waits for any answer of Kafka before it retries (ms); kafkajs' default when unset. */
  requestTimeout?: number;
  /** Topic and group retries wait on it. */
  clock?: Clock;
}

/** Kafka 4's coordinator may count a member that just left for a moment (GROUP_NOT_EMPTY). */
const GROUP_DELETE_RETRY: RetryPolicy = { initialMs: 200, multiplier: 2, maxMs: 1_000, maxAttempts: 10 };

export const DEFAULT_CONSUMER_TUNING: KafkaConsumerTuning = {
  sessionTimeout: 30_000,
  heartbeatInterval: 1_000,
  // Short, because this consumer rejoins at once (eachBatch never blocks), and a group whose
  // coordinator restarted waits this long for members that died with the old connection.
  rebalanceTimeout: 15_000,
  maxWaitTime: 500,
  maxQueuedPerPartition: 500,
  joinTimeout: 60_000,
  restartDelay: 1_000,
  commitInterval: 100,
  // kafkajs' default is 5 minutes, during which records sent to a partition added meanwhile
  // (a binding with a larger partitionCount, `kafka-topics --alter`) wait unread.
  metadataMaxAge: 5_000,
};

export function createKafkaBinder(config: BinderConfig, deps: BinderDeps, options: KafkaBinderOptions = {}): Binder {
  if (config.kafka === undefined) throw new Error(`binder "${config.name}" has type kafka but no kafka settings`);
  return new KafkaBinder(config.name, config.kafka, deps, options);
}

class KafkaBinder implements Binder, ProducerHost {
  readonly type = 'kafka' as const;
  state: BinderState = 'connecting';
  brokerVersion?: string;

  private readonly kafka: Kafka;
  private readonly admin: Admin;
  /** A second client without retries, so that a probe answers at once. */
  private readonly probe: Admin;
  private readonly deadLetters = new ProducerSlot(() => connected(this.kafka.producer({ idempotent: true, allowAutoTopicCreation: false })));
  private readonly listeners = new Set<(state: BinderState) => void>();
  private readonly producers = new Set<KafkaOutput>();
  private readonly consumers = new Set<KafkaInput>();
  private probeTimer?: unknown;
  private probing = false;
  private readonly tuning: KafkaConsumerTuning;
  readonly sendTimeout: number;
  readonly maxBatch: number;
  private readonly sendRetries: number;
  private readonly probeInterval: { up: number; down: number };
  private readonly logger: BaseLogger;
  readonly clock: Clock;

  constructor(
    readonly name: string,
    private readonly settings: KafkaBinderConfig,
    private readonly deps: BinderDeps,
    options: KafkaBinderOptions,
  ) {
    this.logger = deps.logger;
    this.tuning = { ...DEFAULT_CONSUMER_TUNING, ...options.consumer };
    this.sendTimeout = options.sendTimeout ?? 10_000;
    this.sendRetries = options.sendRetries ?? 5;
    this.probeInterval = options.probeInterval ?? { up: 5_000, down: 500 };
    this.maxBatch = options.maxBatch ?? 500;
    this.clock = options.clock ?? systemClock;
    const base: KafkaConfig = {
      clientId: settings.clientId ?? `bindery-${name}`,
      brokers: settings.brokers,
      ...(settings.tls && { ssl: true }),
      ...(settings.sasl && {
        sasl: { mechanism: settings.sasl.mechanism, username: settings.sasl.username, password: settings.sasl.password } as KafkaConfig['sasl'],
      }),
      connectionTimeout: 3_000,
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.logger, () => undefined),
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 8 },
    };
    this.kafka = new Kafka({
      ...base,
      ...(options.requestTimeout !== undefined && { requestTimeout: options.requestTimeout }),
      logCreator: kafkaLogCreator(this.logger, () => this.suspectDown()),
    });
    this.admin = this.kafka.admin();
    this.probe = new Kafka({ ...base, retry: { retries: 0 }, requestTimeout: 3_000 }).admin();
  }

  async connect(): Promise<void> {
    if (this.state === 'closed') throw new BinderUnavailableError(`binder "${this.name}" is closed`);
    try {
      await this.admin.connect();
      await this.probe.connect();
      const cluster = await this.admin.describeCluster();
      this.brokerVersion = `Kafka (cluster ${cluster.clusterId}, ${cluster.brokers.length} broker${cluster.brokers.length === 1 ? '' : 's'})`;
    } catch (error) {
      this.setState('down');
      throw new BinderUnavailableError(this.describe('cannot connect to Kafka', error));
    }
    this.setState('up');
    this.scheduleProbe();
  }

  onStateChange(listener: (state: BinderState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async createProducer(binding: BindingConfig): Promise<Producer> {
    const topology = kafkaTopology(binding);
    await this.ensureTopic(topology.topic, binding.name);
    const chosen = new WeakMap<object, number>();
    const producer = new ProducerSlot(() => connected(this.kafka.producer({
      idempotent: true,
      allowAutoTopicCreation: false,
      // Partitions another sidecar adds are used within this long.
      metadataMaxAge: 30_000,
      createPartitioner: () => recordPartitioner(chosen),
      retry: { retries: this.sendRetries, initialRetryTime: 100, maxRetryTime: 1_000 },
    })));
    try {
      await producer.acquire();
    } catch (error) {
      throw this.unavailable(`binding "${binding.name}": cannot connect a producer`, error);
    }
    const output = new KafkaOutput(this, topology.topic.name, producer, chosen, await this.maxMessageBytes(topology.topic.name));
    this.producers.add(output);
    return output;
  }

  /** The topic's `max.message.bytes` (its own, or the broker's default). */
  private async maxMessageBytes(topic: string): Promise<number> {
    try {
      const { resources } = await this.admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
      });
      const value = Number(resources[0]?.configEntries.find((entry) => entry.configName === 'max.message.bytes')?.configValue);
      return Number.isInteger(value) && value > 0 ? value : KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    } catch (error) {
      this.logger.warn({ topic, err: (error as Error).message }, 'cannot read the topic\'s max.message.bytes; assuming Kafka\'s default');
      return KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    }
  }

  async createConsumer(binding: BindingConfig, handler: DeliveryHandler): Promise<Consumer> {
    const anonymousGroup = binding.group === undefined ? naming.anonymousGroup() : undefined;
    const topology = kafkaTopology(binding, anonymousGroup !== undefined ? { anonymousGroup } : {});
    const partitions = await this.ensureTopic(topology.topic, binding.name);
    let deadLetterPartitions = 0;
    if (topology.deadLetterTopic !== undefined) {
      // As many partitions as the topic really has: a dead letter keeps its partition number.
      const wanted = Math.max(partitions, topology.deadLetterTopic.partitions);
      deadLetterPartitions = await this.ensureTopic({ ...topology.deadLetterTopic, partitions: wanted }, binding.name);
    }
    const input = new KafkaInput(
      binding,
      { ...topology, consumerGroup: topology.consumerGroup! },
      deadLetterPartitions,
      handler,
      this.consumerContext(),
    );
    this.consumers.add(input);
    try {
      await input.start();
    } catch (error) {
      this.consumers.delete(input);
      await input.close().catch(() => {});
      throw this.unavailable(`binding "${binding.name}": cannot start consuming ${topology.topic.name}`, error);
    }
    return {
      pause: () => input.pause(),
      resume: () => input.resume(),
      close: async () => {
        this.consumers.delete(input);
        await input.close();
      },
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const connected = this.brokerVersion !== undefined;
    this.clock.clearTimeout(this.probeTimer);
    await Promise.allSettled([...this.consumers].map((c) => c.close()));
    await Promise.allSettled([...this.producers].map((p) => p.close()));
    await this.deadLetters.close();
    this.setState('closed');
    const disconnects = Promise.allSettled([this.admin.disconnect(), this.probe.disconnect()]);
    // A client still making its first connection disconnects only once all its retries gave
    // up (half a minute against a broker that never answers); nobody needs its answer now.
    if (connected) await disconnects;
  }

  /** Creates the topic when missing, grows it when it has fewer partitions; returns its partitions. */
  async ensureTopic(topic: KafkaTopic, binding: string): Promise<number> {
    try {
      const partitions = await ensureTopics(this.admin, [topic], {
        clock: this.clock,
        onChange: ({ topic: name, partitions: count, from }) =>
          from === undefined
            ? this.logger.info({ binding, topic: name, partitions: count }, 'kafka topic created')
            : this.logger.info({ binding, topic: name, from, to: count }, 'kafka topic partitions increased'),
      });
      return partitions.get(topic.name) ?? topic.partitions;
    } catch (error) {
      throw this.unavailable(`binding "${binding}": cannot provision topic ${topic.name}`, error);
    }
  }

  private consumerContext(): ConsumerContext {
    return {
      kafka: this.kafka,
      logger: this.logger,
      tuning: this.tuning,
      clock: this.clock,
      publishDeadLetter: (topic, record) => this.publishDeadLetter(topic, record),
      endsWithoutPosition: (group, topic) => this.endsWithoutPosition(group, topic),
      deleteGroup: (group) => this.deleteGroup(group),
      ...(this.deps.onConsumerLag && { onConsumerLag: this.deps.onConsumerLag }),
      onCrash: () => this.suspectDown(),
      onActive: () => this.setState('up'),
    };
  }

  /**
   * Where a `latest` input starts on the partitions its group has no position for: the end of
   * each as it is now, before the group even joins, so that nothing sent once createConsumer
   * resolved is skipped. Partitions that have a committed position keep it.
   */
  private async endsWithoutPosition(group: string, topic: string): Promise<Map<number, string>> {
    const committed = await this.admin.fetchOffsets({ groupId: group, topics: [topic] });
    const unset = new Set(committed[0]?.partitions.filter((p) => Number(p.offset) < 0).map((p) => p.partition));
    const ends = await this.admin.fetchTopicOffsets(topic);
    return new Map(ends.filter((e) => unset.has(e.partition)).map((e) => [e.partition, e.high]));
  }

  /**
   * An anonymous group goes with its consumer. Kafka 4's coordinator may still count the
   * member that just left for a moment (GROUP_NOT_EMPTY): asked again shortly, it is empty.
   */
  private async deleteGroup(group: string): Promise<void> {
    try {
      await retry(GROUP_DELETE_RETRY, () => this.admin.deleteGroups([group]), { clock: this.clock });
    } catch (error) {
      this.logger.debug({ group, err: (error as Error).message }, 'anonymous consumer group not deleted');
    }
  }

  private async publishDeadLetter(topic: string, record: OutboundRecord): Promise<void> {
    try {
      await this.deadLetters.run((producer) => producer.send({ topic, acks: -1, messages: [record] }));
    } catch (error) {
      throw this.unavailable(`cannot publish a dead letter to ${topic}`, error);
    }
  }

  /**
   * A failed call or a connection lost: look at the cluster now rather than at the next
   * scheduled probe. While down, the probe already runs often; while one runs, it decides.
   */
  suspectDown(): void {
    if (this.state !== 'up' || this.probing) return;
    this.clock.clearTimeout(this.probeTimer);
    this.probeTimer = this.clock.setTimeout(() => void this.runProbe(), 0);
  }

  private scheduleProbe(): void {
    if (this.state === 'closed') return;
    this.clock.clearTimeout(this.probeTimer);
    this.probeTimer = this.clock.setTimeout(() => void this.runProbe(), this.state === 'up' ? this.probeInterval.up : this.probeInterval.down);
  }

  private async runProbe(): Promise<void> {
    this.probing = true;
    try {
      await this.probe.describeCluster();
      this.setState('up');
    } catch (error) {
      if (this.state === 'up') this.logger.warn({ err: (error as Error).message }, 'kafka unreachable');
      this.setState('down');
    } finally {
      this.probing = false;
    }
    this.scheduleProbe();
  }

  setState(state: BinderState): void {
    if (this.state === state || this.state === 'closed') return;
    this.state = state;
    this.logger.info({ state }, `binder ${state}`);
    if (state === 'down') {
      const gone = new BinderUnavailableError(`Kafka is unreachable (binder "${this.name}")`);
      for (const producer of this.producers) producer.failAll(gone);
    }
    for (const listener of this.listeners) listener(state);
  }

  unavailable(what: string, error: unknown): BinderUnavailableError {
    if (isConnectionError(error)) this.suspectDown();
    return new BinderUnavailableError(this.describe(what, error), { cause: error });
  }

  private describe(what: string, error: unknown): string {
    return `${what} (${this.settings.brokers.join(',')}): ${(error as Error)?.message ?? String(error)}`;
  }

  forgetProducer(output: KafkaOutput): void {
    this.producers.delete(output);
  }
}

function isConnectionError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    if (/Connection|ECONNREFUSED|ENOTFOUND|ETIMEDOUT|NumberOfRetriesExceeded/i.test(`${current.name} ${current.message}`)) return true;
    current = (current as Error & { originalError?: unknown; cause?: unknown }).originalError ?? (current as Error & { cause?: unknown }).cause;
  }
  return false;
}

/** Connection-level kafkajs lines repeat for every retry while a broker is away. */
const NOISY_NAMESPACES = new Set(['Connection', 'BrokerPool']);
/** Warnings about choices made on purpose (bounded send retries: docs/adr/0018). */
const EXPECTED = /^Limiting retries for the idempotent producer/;

/**
 * kafkajs logs through the runtime's logger. Its info lines and its per-retry connection
 * errors become debug: the binder itself says once that Kafka is unreachable and when it is back.
 * A connection error is also the first sign of a broker gone (kafkajs retries on its own for
 * seconds before a call fails): `onConnectionError` lets the binder look at once.
 */
function kafkaLogCreator(logger: BaseLogger, onConnectionError: () => void) {
  return () =>
    ({ namespace, level, log }: LogEntry): void => {
      const { message, timestamp: _timestamp, logger: _logger, ...extra } = log as LogEntry['log'] & { logger?: unknown };
      const fields = { kafkajs: namespace, ...pickLogFields(extra) };
      if (level === logLevel.ERROR && NOISY_NAMESPACES.has(namespace)) onConnectionError();
      if ((level === logLevel.ERROR || level === logLevel.WARN) && !NOISY_NAMESPACES.has(namespace) && !EXPECTED.test(message)) {
        logger.warn(fields, message);
      }
      else if (level === logLevel.INFO) logger.debug(fields, message);
      else logger.trace(fields, message);
    };
}

function pickLogFields(extra: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const key of ['broker', 'groupId', 'memberId', 'topic', 'partition', 'error', 'retryCount', 'retryTime']) {
    if (extra[key] !== undefined) kept[key] = extra[key];
  }
  return kept;
}

async function connected(producer: KafkaJsProducer): Promise<KafkaJsProducer> {
  await producer.connect();
  return producer;
}
