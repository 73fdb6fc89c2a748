/** The demo's sidecar configurations, as a user would write them in bindery.yaml. */
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  defaultConsumer,
  defaultProducer,
  type BinderConfig,
  type RuntimeConfig,
} from '../config/model.ts';

/** Ports 0: several sidecars share one machine, so each takes free ports. */
const HTTP = { host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0 };

export function providerConfig(binder: BinderConfig, destination: string): RuntimeConfig {
  return {
    binders: { [binder.name]: binder },
    defaultBinder: binder.name,
    bindings: {
      output: {
        name: 'output',
        direction: 'output',
        destination,
        binder: binder.name,
        contentType: 'application/json',
        maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
        // Kafka spreads a group over partitions: two of them let both consumers take part.
        producer: { ...defaultProducer(), ...(binder.type === 'kafka' && { partitionCount: 2 }) },
        consumer: defaultConsumer(),
      },
    },
    http: HTTP,
    warnings: [],
  };
}

export function consumerConfig(binder: BinderConfig, destination: string, group: string | undefined, appPort: number): RuntimeConfig {
  return {
    binders: { [binder.name]: binder },
    defaultBinder: binder.name,
    bindings: {
      input: {
        name: 'input',
        direction: 'input',
        destination,
        ...(group !== undefined && { group }),
        binder: binder.name,
        contentType: 'application/json',
        maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
        producer: defaultProducer(),
        consumer: { ...defaultConsumer(), backOffInitialInterval: 100, backOffMaxInterval: 1000 },
      },
    },
    app: { port: appPort, host: '127.0.0.1' },
    http: HTTP,
    warnings: [],
  };
}
