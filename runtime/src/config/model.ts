/**
 * The runtime's resolved configuration: what every config source (bindery.yaml, a Spring
 * Cloud Stream application.yml, the operator's ConfigMap) is normalised into. Everything
 * downstream of the loaders reads only these types, with defaults already applied.
 */

export type Direction = 'input' | 'output';
export type BinderType = 'memory' | 'rabbit' | 'kafka';
export type PartitionSelector = 'javaHash' | 'murmur2';
export type StartOffset = 'earliest' | 'latest';

export interface RabbitBinderConfig {
  /** amqp(s)://user:pass@host:port/vhost. Holds a secret: never log it, use `redactUrl`. */
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

export interface ProducerConfig {
  /** Expression over `payload` and `headers` giving the partition key (see partition/expression). */
  partitionKeyExpression?: string;
  /** > 1 makes the binding partitioned. */
  partitionCount: number;
  partitionSelector: PartitionSelector;
  /** Groups whose queues the producer declares, so nothing is lost before a consumer starts. */
  requiredGroups: string[];
}

export interface ConsumerConfig {
  /** Deliveries in flight at once for this binding (RabbitMQ prefetch, push concurrency). */
  concurrency: number;
  /** Total delivery attempts, the first included, before dead-lettering. */
  maxAttempts: number;
  backOffInitialInterval: number;
  backOffMultiplier: number;
  backOffMaxInterval: number;
  deadLetter: boolean;
  /** Absent: `earliest` for groups, `latest` for anonymous consumers. */
  startOffset?: StartOffset;
  /** Push path on the app; default `/<binding>`. */
  path?: string;
  /** Manual-ack SSE deliveries not acked within this many ms are redelivered. */
  ackTimeout: number;
  /** Push request timeout in ms; a timeout counts as a failed attempt. */
  pushTimeout: number;
  /** Partitioned input: this instance's index and the number of instances. */
  partitioned: boolean;
  instanceIndex: number;
  instanceCount: number;
}

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

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export const defaultProducer = (): ProducerConfig => ({
  partitionCount: 1,
  partitionSelector: 'javaHash',
  requiredGroups: [],
});

export const defaultConsumer = (): ConsumerConfig => ({
  concurrency: 1,
  maxAttempts: 3,
  backOffInitialInterval: 1000,
  backOffMultiplier: 2,
  backOffMaxInterval: 10000,
  deadLetter: true,
  ackTimeout: 30000,
  pushTimeout: 30000,
  partitioned: false,
  instanceIndex: 0,
  instanceCount: 1,
});

/** A URL with its password replaced, fit for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
