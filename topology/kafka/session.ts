/** The operator's Kafka session (kafkajs admin): topics with partitions, grown never shrunk. */
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs';
import { ownTopics, type DesiredTopology } from '../desired.ts';
import { BrokerCalls, BrokerError, type BrokerSession, type BrokerSettings, type TopologyCheck, type TopologyUsage } from '../session.ts';
import { groupBacklog } from './backlog.ts';
import type { KafkaTopic } from './desired.ts';
import { ensureTopics } from './topics.ts';

type KafkaSettings = Extract<BrokerSettings, { type: 'kafka' }>;

export async function connectKafka(settings: KafkaSettings, calls: BrokerCalls): Promise<BrokerSession> {
  const kafka = new Kafka({
    clientId: 'bindery-operator',
    brokers: settings.brokers,
    ssl: settings.tls,
    ...(settings.sasl && { sasl: settings.sasl as SASLOptions }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 1, initialRetryTime: 200 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    calls.count('kafka', 'read');
    const cluster = await admin.describeCluster();
    const version = await brokerVersion(admin, cluster.controller ?? cluster.brokers[0]?.nodeId);
    return new KafkaSession(admin, calls, version);
  } catch (error) {
    await admin.disconnect().catch(() => {});
    throw classify(error, settings);
  }
}

/** Kafka does not announce its version; the inter-broker protocol version is the closest it says. */
async function brokerVersion(admin: Admin, brokerId: number | undefined): Promise<string> {
  if (brokerId === undefined) return 'Kafka';
  try {
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 4 /* BROKER */, name: String(brokerId), configNames: ['inter.broker.protocol.version'] }],
    });
    const value = configs.resources[0]?.configEntries.find((e) => e.configName === 'inter.broker.protocol.version')?.configValue;
    return value ? `Kafka ${value}` : 'Kafka';
  } catch {
    return 'Kafka';
  }
}

function classify(error: unknown, settings: KafkaSettings): BrokerError {
  const message = error instanceof Error ? error.message : String(error);
  const where = settings.brokers.join(',');
  const type = (error as { type?: string }).type ?? '';
  if (/SASL|AUTHENTICATION/i.test(type) || /SASL|authentication/i.test(message)) {
    return new BrokerError('AuthenticationFailed', `Kafka at ${where} refused the credentials`);
  }
  return new BrokerError('Unreachable', `Kafka at ${where} is unreachable`);
}

class KafkaSession implements BrokerSession {
  readonly type = 'kafka';
  closed = false;
  private readonly downListeners: Array<() => void> = [];

  constructor(
    private readonly admin: Admin,
    private readonly calls: BrokerCalls,
    readonly version: string,
  ) {
    // The admin client has no connection-lost event of its own; a failed call marks the
    // session down (see `failure`), so the pool connects afresh next time.
  }

  onDown(listener: () => void): void {
    if (this.closed) listener();
    else this.downListeners.push(listener);
  }

  async declare(desired: DesiredTopology): Promise<void> {
    try {
      await ensureTopics(this.admin, topicsOf(desired), { onCall: (kind) => this.calls.count('kafka', kind) });
    } catch (error) {
      throw this.failure('declare topics', error);
    }
  }

  async check(desired: DesiredTopology, options: { lag: boolean }): Promise<TopologyCheck> {
    // Topics and offsets are separate reads on Kafka; they run at once.
    const [missing, lag] = await Promise.all([
      this.missingTopics(desired),
      options.lag ? this.lag(desired).then((value) => (value === undefined ? {} : { lag: value }), (error: unknown) => ({ lagError: error as BrokerError })) : {},
    ]);
    return { missing, ...lag };
  }

  private async missingTopics(desired: DesiredTopology): Promise<string[]> {
    const topics = topicsOf(desired);
    try {
      const existing = await this.partitionCounts(topics);
      return topics
        .filter((t) => (existing.get(t.name) ?? 0) < t.partitions)
        .map((t) => (existing.has(t.name) ? `partitions of topic ${t.name}` : `topic ${t.name}`));
    } catch (error) {
      throw this.failure('read topics', error);
    }
  }

  async usage(desired: DesiredTopology): Promise<TopologyUsage> {
    const group = kafkaOf(desired).kafka.consumerGroup;
    if (!group) return { messages: 0, consumers: 0 };
    // The group's backlog on its topic, unless that topic is retained (another binding uses it).
    const topic = topicsOf(desired).find((t) => t.name === kafkaOf(desired).kafka.topic.name)?.name;
    try {
      this.calls.count('kafka', 'read', topic === undefined ? 1 : 3);
      const [groups, ends, committed] = await Promise.all([
        this.admin.describeGroups([group]),
        topic === undefined ? [] : this.admin.fetchTopicOffsets(topic).catch(() => []),
        topic === undefined ? [] : this.admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(() => []),
      ]);
      const members = groups.groups[0]?.members.length ?? 0;
      const messages = groupBacklog(ends, committed[0]?.partitions ?? []);
      return { messages, consumers: members };
    } catch (error) {
      throw this.failure('read the group', error);
    }
  }

  private async lag(desired: DesiredTopology): Promise<number | undefined> {
    const { consumerGroup: group, topic } = kafkaOf(desired).kafka;
    if (group === undefined) return undefined;
    try {
      this.calls.count('kafka', 'read', 2);
      const [ends, committed] = await Promise.all([
        this.admin.fetchTopicOffsets(topic.name),
        this.admin.fetchOffsets({ groupId: group, topics: [topic.name] }),
      ]);
      return groupBacklog(ends, committed[0]?.partitions ?? []);
    } catch (error) {
      throw this.failure('read the group offsets', error);
    }
  }

  async delete(desired: DesiredTopology): Promise<void> {
    const own = topicsOf(desired);
    if (own.length === 0) return;
    try {
      const existing = await this.partitionCounts(own);
      const topics = own.map((t) => t.name).filter((name) => existing.has(name));
      if (topics.length === 0) return;
      this.calls.count('kafka', 'write');
      await this.admin.deleteTopics({ topics });
    } catch (error) {
      if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return;
      throw this.failure('delete topics', error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.markDown();
    await this.admin.disconnect().catch(() => {});
  }

  /** Partition counts of those of `topics` that exist. */
  private async partitionCounts(topics: KafkaTopic[]): Promise<Map<string, number>> {
    this.calls.count('kafka', 'read');
    const names = new Set(topics.map((t) => t.name));
    const all = await this.admin.listTopics();
    const present = all.filter((name) => names.has(name));
    if (present.length === 0) return new Map();
    this.calls.count('kafka', 'read');
    const metadata = await this.admin.fetchTopicMetadata({ topics: present });
    return new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  }

  private markDown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.downListeners.splice(0)) listener();
  }

  private failure(what: string, error: unknown): BrokerError {
    const message = error instanceof Error ? error.message : String(error);
    const type = (error as { type?: string }).type;
    if (!type || /ECONNREFUSED|Connection|timeout|disconnected/i.test(message)) {
      this.markDown();
      void this.admin.disconnect().catch(() => {});
      return new BrokerError('Unreachable', `Kafka connection lost during ${what}`);
    }
    return new BrokerError('ProvisioningFailed', `Kafka refused to ${what}: ${message}`);
  }
}

function kafkaOf(desired: DesiredTopology): Extract<DesiredTopology, { type: 'kafka' }> {
  if (desired.type !== 'kafka') throw new Error(`a ${desired.type} topology given to the Kafka session`);
  return desired;
}

function topicsOf(desired: DesiredTopology): KafkaTopic[] {
  return ownTopics(kafkaOf(desired));
}
