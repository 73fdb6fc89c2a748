/**
 * Every default of a binding's settings, in one place: the sidecar applies them when it loads
 * its file (bindery.yaml and a Spring application.yml alike), and the operator applies the
 * same ones when it derives a StreamBinding's broker topology, so a field left out means the
 * same on both sides. Typed against the schemas: a new setting without a default here does
 * not compile.
 *
 * Every default that reaches a broker is Spring Cloud Stream's own (SPEC section 2): a Spring
 * service and a sidecar sharing a group declare identical queues, in either start order.
 */
import type { FileConsumerSettings, ProducerSettings } from './settings.ts';

/** Settings that stay optional after defaults: their absence has a meaning of its own. */
type NoDefault = 'partitionKeyExpression' | 'messageKeyExpression' | 'startOffset' | 'path';

export type ProducerDefaults = Required<Omit<ProducerSettings, NoDefault>>;
export type ConsumerDefaults = Required<Omit<FileConsumerSettings, NoDefault>>;

export const PRODUCER_DEFAULTS: Readonly<ProducerDefaults> = Object.freeze({
  partitionCount: 1,
  partitionSelector: 'javaHash',
  requiredGroups: [],
  // Spring's autoBindDlq for a producer's required groups.
  deadLetter: false,
});

export const CONSUMER_DEFAULTS: Readonly<ConsumerDefaults> = Object.freeze({
  concurrency: 1,
  batchSize: 1,
  maxAttempts: 3,
  backOffInitialInterval: 1000,
  backOffMultiplier: 2,
  backOffMaxInterval: 10000,
  // Spring's autoBindDlq (RabbitMQ) and enableDlq (Kafka): dead letters are opt-in.
  deadLetter: false,
  ackTimeout: 30000,
  pushTimeout: 30000,
  partitioned: false,
  instanceIndex: 0,
  instanceCount: 1,
});

export const BINDING_DEFAULTS = Object.freeze({
  contentType: 'application/json',
  /** Bodies above this are refused with 413 (SPEC section 5). */
  maxMessageBytes: 1024 * 1024,
});

export const HTTP_DEFAULTS = Object.freeze({ host: '127.0.0.1', port: 7070, opsHost: '0.0.0.0', opsPort: 7071 });

/** Where pushes go unless `app.host` says otherwise: the app beside the sidecar. */
export const APP_HOST_DEFAULT = '127.0.0.1';

export const RABBIT_DEFAULTS = Object.freeze({ host: 'localhost', port: 5672, tlsPort: 5671, vhost: '/', username: 'guest', password: 'guest' });
