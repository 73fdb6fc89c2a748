/**
 * The runtime's resolved configuration: what every config source (bindery.yaml, a Spring
 * Cloud Stream application.yml, the operator's ConfigMap) is normalised into. Everything
 * downstream of the loaders reads only these types, with defaults already applied. A
 * binding's producer and consumer settings are the shared schema's (sidecar-config/), with
 * its defaults.
 */
import {
  BINDING_DEFAULTS,
  CONSUMER_DEFAULTS,
  PRODUCER_DEFAULTS,
  type ConsumerDefaults,
  type ProducerDefaults,
} from '../../../sidecar-config/defaults.ts';
import type { FileConsumerSettings, ProducerSettings } from '../../../sidecar-config/settings.ts';

export type Direction = 'input' | 'output';
export type BinderType = 'memory' | 'rabbit' | 'kafka';
export type PartitionSelector = 'javaHash' | 'murmur2';
export type StartOffset = 'earliest' | 'latest';

export interface RabbitBinderConfig {
  /** amqp(s)://user:pass@host:port/vhost. Holds a secret: never log it unredacted (redact.ts). */
  url: string;
}

export interface KafkaBinderConfig {
  brokers: string[];
  clientId?: string;
  tls?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface BinderConfig {
  name: string;
  type: BinderType;
  rabbit?: RabbitBinderConfig;
  kafka?: KafkaBinderConfig;
}

/** An output's settings, defaults applied; the key expressions stay optional. */
export type ProducerConfig = ProducerDefaults & Pick<ProducerSettings, 'partitionKeyExpression' | 'messageKeyExpression'>;

/** An input's settings, defaults applied; absent `startOffset`: `earliest` for groups, `latest` for anonymous consumers; absent `path`: `/<binding>`. */
export type ConsumerConfig = ConsumerDefaults & Pick<FileConsumerSettings, 'startOffset' | 'path'>;

export interface BindingConfig {
  name: string;
  direction: Direction;
  destination: string;
  /** Input only; absent means an anonymous consumer. */
  group?: string;
  /** Name of an entry of `RuntimeConfig.binders`. */
  binder: string;
  contentType: string;
  maxMessageBytes: number;
  producer: ProducerConfig;
  consumer: ConsumerConfig;
}

export interface RuntimeConfig {
  binders: Record<string, BinderConfig>;
  defaultBinder?: string;
  bindings: Record<string, BindingConfig>;
  app?: { port: number; host: string };
  http: { host: string; port: number; opsHost: string; opsPort: number };
  /** Keys the loader did not understand; reported once as warnings at start-up. */
  warnings: string[];
}

export const DEFAULT_MAX_MESSAGE_BYTES = BINDING_DEFAULTS.maxMessageBytes;

export const defaultProducer = (): ProducerConfig => ({ ...PRODUCER_DEFAULTS, requiredGroups: [...PRODUCER_DEFAULTS.requiredGroups] });

export const defaultConsumer = (): ConsumerConfig => ({ ...CONSUMER_DEFAULTS });

/**
 * How many deliveries an input's consumer holds unsettled at once: `concurrency` pushes of up to
 * `batchSize` messages each, and, for batches, one more batch gathering while those are out, so
 * that the next batch is full when a push returns rather than refilled message by message. A
 * binder's prefetch (RabbitMQ) or in-flight records (Kafka) is this.
 */
export function unsettledLimit(consumer: Pick<ConsumerConfig, 'concurrency' | 'batchSize'>): number {
  const batchSize = Math.max(1, consumer.batchSize);
  return (Math.max(1, consumer.concurrency) + (batchSize > 1 ? 1 : 0)) * batchSize;
}
