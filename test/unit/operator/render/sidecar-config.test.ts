import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Binder, StreamBinding } from '../../../../operator/src/api/types.ts';
import { binderCredentialEnv } from '../../../../operator/src/render/credentials.ts';
import { renderConfig } from '../../../../operator/src/render/sidecar-config.ts';
import { binderEnvVarName } from '../../../../sidecar-config/env.ts';

const meta = (name: string) => ({ name, namespace: 'shop' });

const rabbit = (name: string, extra: Partial<Binder['spec']> = {}): Binder => ({
  apiVersion: 'bindery.io/v1alpha1',
  kind: 'Binder',
  metadata: meta(name),
  spec: {
    type: 'rabbit',
    rabbit: {
      host: 'rabbitmq',
      port: 5672,
      vhost: '/',
      tls: false,
      credentialsSecret: { name: 'rabbit-creds', usernameKey: 'user', passwordKey: 'pass' },
    },
    ...extra,
  },
});

const kafka: Binder = {
  apiVersion: 'bindery.io/v1alpha1',
  kind: 'Binder',
  metadata: meta('kafka.main'),
  spec: {
    type: 'kafka',
    kafka: { brokers: ['kafka:9092'], tls: true, sasl: { mechanism: 'scram-sha-512', secret: { name: 'k', usernameKey: 'u', passwordKey: 'p' } } },
  },
};

const binding = (name: string, spec: StreamBinding['spec']): StreamBinding => ({
  apiVersion: 'bindery.io/v1alpha1',
  kind: 'StreamBinding',
  metadata: meta(name),
  spec,
});

describe('binderEnvVarName', () => {
  it.each([
    ['default-rabbit', 'USERNAME', 'BINDERY_BINDER_DEFAULT_RABBIT_USERNAME'],
    ['default-rabbit', 'PASSWORD', 'BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD'],
    ['kafka.main', 'PASSWORD', 'BINDERY_BINDER_KAFKA_MAIN_PASSWORD'],
    ['a1', 'USERNAME', 'BINDERY_BINDER_A1_USERNAME'],
  ] as const)('%s %s -> %s', (binder, part, expected) => {
    expect(binderEnvVarName(binder, part)).toBe(expected);
  });
});

describe('binderCredentialEnv', () => {
  it.each([
    ['rabbit with a Secret', rabbit('r'), [
      { name: 'BINDERY_BINDER_R_USERNAME', secretName: 'rabbit-creds', secretKey: 'user' },
      { name: 'BINDERY_BINDER_R_PASSWORD', secretName: 'rabbit-creds', secretKey: 'pass' },
    ]],
    ['kafka with SASL', kafka, [
      { name: 'BINDERY_BINDER_KAFKA_MAIN_USERNAME', secretName: 'k', secretKey: 'u' },
      { name: 'BINDERY_BINDER_KAFKA_MAIN_PASSWORD', secretName: 'k', secretKey: 'p' },
    ]],
    ['rabbit without a Secret', { ...rabbit('r'), spec: { type: 'rabbit', rabbit: { host: 'h', port: 1, vhost: '/', tls: false } } } as Binder, []],
  ])('%s', (_, binder, expected) => {
    expect(binderCredentialEnv(binder.metadata.name, binder.spec)).toEqual(expected);
  });
});

describe('renderConfig', () => {
  it.each([
    [
      'a rabbit binder and the seed bindings',
      [rabbit('default-rabbit', { default: true })],
      [
        binding('output', { direction: 'output', destination: 'studyExchange', contentType: 'application/json' }),
        binding('input', { direction: 'input', destination: 'studyExchange', group: 'atguiguA', consumer: { maxAttempts: 3 } }),
      ],
      {
        binders: {
          'default-rabbit': {
            type: 'rabbit',
            rabbit: {
              host: 'rabbitmq', port: 5672, vhost: '/', tls: false,
              username: '${BINDERY_BINDER_DEFAULT_RABBIT_USERNAME}',
              password: '${BINDERY_BINDER_DEFAULT_RABBIT_PASSWORD}',
            },
          },
        },
        defaultBinder: 'default-rabbit',
        bindings: {
          input: { direction: 'input', destination: 'studyExchange', group: 'atguiguA', binder: 'default-rabbit', contentType: 'application/json', consumer: { maxAttempts: 3 } },
          output: { direction: 'output', destination: 'studyExchange', binder: 'default-rabbit', contentType: 'application/json' },
        },
      },
    ],
    [
      'a kafka binder named by a partitioned output',
      [kafka],
      [binding('orders', { direction: 'output', destination: 'orders', binder: 'kafka.main', producer: { partitionCount: 4, partitionKeyExpression: 'payload.id' } })],
      {
        binders: {
          'kafka.main': {
            type: 'kafka',
            kafka: {
              brokers: ['kafka:9092'], tls: true,
              sasl: { mechanism: 'scram-sha-512', username: '${BINDERY_BINDER_KAFKA_MAIN_USERNAME}', password: '${BINDERY_BINDER_KAFKA_MAIN_PASSWORD}' },
            },
          },
        },
        bindings: {
          orders: { direction: 'output', destination: 'orders', binder: 'kafka.main', contentType: 'application/json', producer: { partitionCount: 4, partitionKeyExpression: 'payload.id' } },
        },
      },
    ],
    [
      'two defaults: no defaultBinder, bindings without a binder name none',
      [rabbit('a', { default: true }), rabbit('b', { default: true })],
      [binding('in', { direction: 'input', destination: 'd' })],
      {
        binders: {
          a: { type: 'rabbit', rabbit: { host: 'rabbitmq', port: 5672, vhost: '/', tls: false, username: '${BINDERY_BINDER_A_USERNAME}', password: '${BINDERY_BINDER_A_PASSWORD}' } },
          b: { type: 'rabbit', rabbit: { host: 'rabbitmq', port: 5672, vhost: '/', tls: false, username: '${BINDERY_BINDER_B_USERNAME}', password: '${BINDERY_BINDER_B_PASSWORD}' } },
        },
        bindings: { in: { direction: 'input', destination: 'd', contentType: 'application/json' } },
      },
    ],
    [
      'objects being deleted are left out',
      [{ ...rabbit('gone'), metadata: { ...meta('gone'), deletionTimestamp: '2026-01-01T00:00:00Z' } }],
      [{ ...binding('x', { direction: 'input', destination: 'd' }), metadata: { ...meta('x'), deletionTimestamp: '2026-01-01T00:00:00Z' } }],
      { binders: {}, bindings: {} },
    ],
  ])('%s', (_, binders, bindings, expected) => {
    expect(parse(renderConfig(binders, bindings))).toEqual(expected);
  });

  it('is the same text whatever the order of its inputs', () => {
    const bindings = [binding('b', { direction: 'input', destination: 'x' }), binding('a', { direction: 'output', destination: 'x' })];
    expect(renderConfig([rabbit('r')], bindings)).toBe(renderConfig([rabbit('r')], [...bindings].reverse()));
  });
});
