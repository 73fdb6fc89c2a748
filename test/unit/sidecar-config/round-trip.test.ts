/**
 * The operator-to-sidecar contract, end to end: what renderConfig writes into the ConfigMap is
 * read back by the sidecar's own parser with every field of the CRD intact. The samples are
 * typed `Required<...>` of the CRD's types, so a field added to the CRD does not compile here
 * until it is given a sample, and then fails here until both sides carry it.
 */
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ConsumerSpec,
  ProducerSpec,
  StreamBindingSpec,
  type Binder,
  type StreamBinding,
} from '../../../operator/src/api/types.ts';
import { renderConfig } from '../../../operator/src/render/sidecar-config.ts';
import { defaultConsumer, defaultProducer } from '../../../runtime/src/config/model.ts';
import { parseConfig } from '../../../runtime/src/config/load.ts';
import { binderEnvVarName } from '../../../sidecar-config/env.ts';
import { SidecarConfigFile } from '../../../sidecar-config/file.ts';

const producerSample: Required<ProducerSpec> = {
  partitionKeyExpression: 'payload.customer',
  partitionCount: 4,
  partitionSelector: 'murmur2',
  requiredGroups: ['audit', 'billing'],
  deadLetter: true,
  messageKeyExpression: 'headers.orderId',
};

const consumerSample: Required<ConsumerSpec> = {
  concurrency: 3,
  batchSize: 25,
  maxAttempts: 7,
  backOffInitialInterval: 250,
  backOffMultiplier: 1.5,
  backOffMaxInterval: 5_000,
  deadLetter: true,
  startOffset: 'latest',
  path: '/orders-in',
};

/** StreamBinding fields that stay with the operator: they decide broker cleanup, not the sidecar. */
const OPERATOR_ONLY = ['deletionPolicy'];

const meta = (name: string) => ({ name, namespace: 'shop' });

const rabbit: Binder = {
  apiVersion: 'bindery.io/v1alpha1',
  kind: 'Binder',
  metadata: meta('main-rabbit'),
  spec: {
    type: 'rabbit',
    default: true,
    rabbit: { host: 'rabbitmq.shop', port: 5671, vhost: 'orders', tls: true, credentialsSecret: { name: 'creds', usernameKey: 'u', passwordKey: 'p' } },
  },
};

const kafka: Binder = {
  apiVersion: 'bindery.io/v1alpha1',
  kind: 'Binder',
  metadata: meta('events'),
  spec: {
    type: 'kafka',
    kafka: { brokers: ['kafka-0:9093', 'kafka-1:9093'], tls: true, sasl: { mechanism: 'scram-sha-512', secret: { name: 'k', usernameKey: 'u', passwordKey: 'p' } } },
  },
};

const binding = (name: string, spec: StreamBinding['spec']): StreamBinding => ({ apiVersion: 'bindery.io/v1alpha1', kind: 'StreamBinding', metadata: meta(name), spec });

const bindings = [
  binding('out', { direction: 'output', destination: 'orders', binder: 'events', contentType: 'text/plain', deletionPolicy: 'Delete', producer: producerSample }),
  binding('in', { direction: 'input', destination: 'orders', group: 'audit', binder: 'events', contentType: 'application/xml', consumer: consumerSample }),
  binding('plain-in', { direction: 'input', destination: 'payments' }),
];

/** The sidecar's environment as the webhook sets it from the Binders' Secrets. */
const env = {
  [binderEnvVarName('main-rabbit', 'USERNAME')]: 'rabbit-user',
  [binderEnvVarName('main-rabbit', 'PASSWORD')]: 'p@ss:word',
  [binderEnvVarName('events', 'USERNAME')]: 'kafka-user',
  [binderEnvVarName('events', 'PASSWORD')]: 'kafka-secret',
};

async function roundTrip() {
  const text = renderConfig([rabbit, kafka], bindings);
  return { text, config: await parseConfig(text, 'bindery.yaml', { env }) };
}

describe('renderConfig -> the sidecar\'s parser', () => {
  it('the samples cover every producer and consumer field of the CRD', () => {
    expect(Object.keys(producerSample).sort()).toEqual(Object.keys(ProducerSpec.properties).sort());
    expect(Object.keys(consumerSample).sort()).toEqual(Object.keys(ConsumerSpec.properties).sort());
  });

  it('the rendered file is a value of the shared schema, with no warnings from the parser', async () => {
    const { text, config } = await roundTrip();
    expect(Value.Errors(SidecarConfigFile, parse(text)).First()).toBeUndefined();
    expect(config.warnings).toEqual([]);
  });

  it('keeps every producer field of the CRD', async () => {
    const { config } = await roundTrip();
    expect(config.bindings.out!.producer).toEqual({ ...defaultProducer(), ...producerSample });
  });

  it('keeps every consumer field of the CRD; the sidecar-only ones keep their defaults', async () => {
    const { config } = await roundTrip();
    expect(config.bindings.in!.consumer).toEqual({ ...defaultConsumer(), ...consumerSample });
  });

  it('keeps every binding field of the CRD that the sidecar uses', async () => {
    const { config } = await roundTrip();
    const sidecarFields = Object.keys(StreamBindingSpec.properties).filter((key) => !OPERATOR_ONLY.includes(key) && key !== 'producer' && key !== 'consumer');
    const spec = bindings[1]!.spec as Record<string, unknown>;
    const parsed = config.bindings.in as unknown as Record<string, unknown>;
    for (const field of sidecarFields) expect({ field, value: parsed[field] }).toEqual({ field, value: spec[field] });
  });

  it('fills what a StreamBinding leaves out with the same defaults as a hand-written file', async () => {
    const { config } = await roundTrip();
    expect(config.bindings['plain-in']).toMatchObject({
      destination: 'payments',
      binder: 'main-rabbit',
      contentType: 'application/json',
      producer: defaultProducer(),
      consumer: defaultConsumer(),
    });
    expect(config.bindings['plain-in']!.group).toBeUndefined();
  });

  it('keeps every Binder field, credentials coming from the environment only', async () => {
    const { text, config } = await roundTrip();
    expect(text).not.toContain('p@ss:word');
    expect(config.defaultBinder).toBe('main-rabbit');
    expect(config.binders['main-rabbit']).toEqual({ name: 'main-rabbit', type: 'rabbit', rabbit: { url: 'amqps://rabbit-user:p%40ss%3Aword@rabbitmq.shop:5671/orders' } });
    expect(config.binders.events).toEqual({
      name: 'events',
      type: 'kafka',
      kafka: { brokers: ['kafka-0:9093', 'kafka-1:9093'], tls: true, sasl: { mechanism: 'scram-sha-512', username: 'kafka-user', password: 'kafka-secret' } },
    });
  });

  it('never expands text that comes from a StreamBinding: a binding cannot read another Binder\'s password', async () => {
    const reference = `\${${binderEnvVarName('events', 'PASSWORD')}}`;
    const sneaky = binding('sneaky', { direction: 'output', destination: reference, binder: 'main-rabbit', contentType: reference, producer: { partitionKeyExpression: `'${reference}'`, partitionCount: 2 } });
    const config = await parseConfig(renderConfig([rabbit, kafka], [sneaky]), 'bindery.yaml', { env });
    expect(config.bindings.sneaky).toMatchObject({ contentType: reference, destination: reference, producer: { partitionKeyExpression: `'${reference}'` } });
    expect(JSON.stringify(config.bindings)).not.toContain('kafka-secret');
  });
});
